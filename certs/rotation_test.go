package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// verifies reports whether chainPEM's leaf verifies against rootsPEM.
func verifies(t *testing.T, chainPEM, rootsPEM []byte) bool {
	t.Helper()
	chain := mustParseChain(t, chainPEM)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootsPEM)
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: poolOf(chain[1:]), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func rootCount(t *testing.T, pemData []byte) int {
	t.Helper()
	c, err := parseCerts(pemData)
	if err != nil {
		t.Fatal(err)
	}
	return len(c)
}

func trustedCA(t *testing.T, iss *Issuer, id Identity) (chain, bundle []byte) {
	t.Helper()
	w, r := mustSecrets(t, iss, id)
	return w.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), r.GetValidationContext().GetTrustedCa().GetInlineBytes()
}

func TestIssuerRotateTrustsBothRootsThenMovesCertificatesThenDropsOldRoot(t *testing.T) {
	clock, rot := newFakeClock(), newRotations()
	oldCA, newCA := mustSelfSignedCA(t), mustSelfSignedCA(t)
	iss := NewIssuer(oldCA, IssuerOptions{TTL: time.Hour, Now: clock.Now, OnRotate: rot.record,
		RootTrustDelay: time.Minute, RootGrace: 5 * time.Minute})
	oldChain, bundle := trustedCA(t, iss, testID)
	if rootCount(t, bundle) != 1 {
		t.Fatalf("ROOTCA holds %d roots before rotation, want 1", rootCount(t, bundle))
	}

	// Phase 1: both roots trusted, certificates still from the old CA.
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	if rot.count() != 1 || !slices.Equal(rot.calls[0], []Identity{testID}) {
		t.Fatalf("OnRotate calls %v after Rotate; want one with %v (the new ROOTCA)", rot.calls, testID)
	}
	chain, bundle := trustedCA(t, iss, testID)
	if rootCount(t, bundle) != 2 || !verifies(t, chain, oldCA.RootsPEM()) || !bytes.Equal(chain, oldChain) {
		t.Fatalf("during the trust delay: ROOTCA holds %d roots (want 2), certificate changed %v (want not)", rootCount(t, bundle), !bytes.Equal(chain, oldChain))
	}
	if !bytes.Equal(iss.RootsPEM(), bundle) || iss.CA() != oldCA {
		t.Fatal("RootsPEM or CA does not follow the rotation's first phase")
	}

	// Phase 2: certificates re-issued from the new CA; old ones still verify.
	clock.Advance(time.Minute)
	renewed, err := iss.RenewDue()
	if err != nil || !slices.Equal(renewed, []Identity{testID}) {
		t.Fatalf("RenewDue after the trust delay = %v, %v; want %v re-issued", renewed, err, testID)
	}
	chain, bundle = trustedCA(t, iss, testID)
	if !verifies(t, chain, newCA.RootsPEM()) || verifies(t, chain, oldCA.RootsPEM()) {
		t.Fatal("re-issued certificate does not chain to the new root alone")
	}
	if rootCount(t, bundle) != 2 || !verifies(t, oldChain, bundle) || !verifies(t, chain, bundle) {
		t.Fatal("during the grace, ROOTCA does not verify both old and new certificates")
	}
	if iss.CA() != newCA {
		t.Fatal("CA is not the new one after the switch")
	}
	other := Identity{DefaultTrustDomain, "default", "ratings"}
	if c, _ := trustedCA(t, iss, other); !verifies(t, c, newCA.RootsPEM()) {
		t.Fatal("an identity first issued after the switch is not from the new CA")
	}

	// Phase 3: the old root leaves after the grace.
	clock.Advance(4 * time.Minute)
	if renewed, _ := iss.RenewDue(); len(renewed) != 0 {
		t.Fatalf("RenewDue before the grace ended = %v; want nothing", renewed)
	}
	clock.Advance(time.Minute)
	renewed, err = iss.RenewDue()
	if err != nil || !slices.Equal(renewed, []Identity{other, testID}) { // sorted
		t.Fatalf("RenewDue after the grace = %v, %v; want every identity (new ROOTCA)", renewed, err)
	}
	chain, bundle = trustedCA(t, iss, testID)
	if !bytes.Equal(bundle, newCA.RootsPEM()) || verifies(t, oldChain, bundle) || !verifies(t, chain, bundle) {
		t.Fatal("after the grace ROOTCA is not the new root alone")
	}
	old := mustParseChain(t, oldChain)[0]
	if _, err := old.Verify(x509.VerifyOptions{Roots: iss.RootPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Fatal("RootPool still trusts the old root")
	}
	if renewed, _ := iss.RenewDue(); len(renewed) != 0 {
		t.Fatalf("RenewDue after the rotation = %v; want nothing", renewed)
	}
}

func TestIssuerRotateToSameRootSwitchesAtOnce(t *testing.T) {
	clock := newFakeClock()
	root := makeCert(t, caSpec("root"), nil)
	ca1, ca2 := intermediateCA(t, root, "one"), intermediateCA(t, root, "two")
	iss := NewIssuer(ca1, IssuerOptions{TTL: time.Hour, Now: clock.Now})
	before, bundle := trustedCA(t, iss, testID)
	if err := iss.Rotate(ca2); err != nil {
		t.Fatal(err)
	}
	after, bundleAfter := trustedCA(t, iss, testID)
	if bytes.Equal(before, after) || iss.CA() != ca2 || !bytes.Equal(bundle, bundleAfter) {
		t.Fatal("rotating to a CA under the trusted root did not re-issue at once with ROOTCA unchanged")
	}
	if err := iss.Rotate(ca2); err != nil {
		t.Fatal(err)
	}
	if again, _ := trustedCA(t, iss, testID); !bytes.Equal(again, after) {
		t.Fatal("rotating to the CA in use re-issued")
	}
}

func TestIssuerRotateRefusesAnotherTrustDomain(t *testing.T) {
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{})
	other, err := NewSelfSignedCA("example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Rotate(other); err == nil {
		t.Fatal("Rotate to another trust domain succeeded")
	}
}

func intermediateCA(t *testing.T, root *pki, cn string) *CA {
	t.Helper()
	inter := makeCert(t, caSpec(cn), root)
	keyPEM, err := encodeKey(inter.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeCACerts(t, dir, map[string][]byte{
		CACertFile: encodeCerts(inter.cert), CAKeyFile: keyPEM, RootCertFile: encodeCerts(root.cert),
	})
	ca, err := LoadCA(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secretVolume lays out dir as Kubernetes mounts a Secret: the files are
// symlinks into ..data, itself a symlink to a timestamped directory, and
// an update swaps ..data.
type secretVolume struct {
	t   *testing.T
	dir string
	n   int
}

func newSecretVolume(t *testing.T, files map[string][]byte) *secretVolume {
	v := &secretVolume{t: t, dir: filepath.Join(t.TempDir(), "cacerts")}
	if err := os.Mkdir(v.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	v.update(files)
	for _, name := range []string{CACertFile, CAKeyFile, RootCertFile} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *secretVolume) update(files map[string][]byte) {
	v.n++
	version := filepath.Join(v.dir, "..v"+string(rune('0'+v.n)))
	if err := os.Mkdir(version, 0o700); err != nil {
		v.t.Fatal(err)
	}
	writeCACerts(v.t, version, files)
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		v.t.Fatal(err)
	}
}

func cacertsOf(t *testing.T, ca *CA) map[string][]byte {
	t.Helper()
	keyPEM, err := encodeKey(ca.signer)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{CACertFile: encodeCerts(ca.cert), CAKeyFile: keyPEM, RootCertFile: ca.RootsPEM()}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollowCADirRotatesToReplacedSecretAndIgnoresBrokenOne(t *testing.T) {
	oldCA, newCA, third := mustSelfSignedCA(t), mustSelfSignedCA(t), mustSelfSignedCA(t)
	vol := newSecretVolume(t, cacertsOf(t, oldCA))
	loaded, err := ReloadCA(vol.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	rot := newRotations()
	// Whether ROOTCA ever carried both roots is recorded as the issuer
	// tells of each change, not polled: a loaded machine may not poll
	// within RootTrustDelay.
	var issuer atomic.Pointer[Issuer]
	var sawBoth atomic.Bool
	onRotate := func(ids []Identity) {
		rot.record(ids)
		if i := issuer.Load(); i != nil && bytes.Count(i.RootsPEM(), []byte("BEGIN CERTIFICATE")) == 2 {
			sawBoth.Store(true)
		}
	}
	iss := NewIssuer(loaded, IssuerOptions{TTL: time.Hour, OnRotate: onRotate,
		RootTrustDelay: 2 * time.Second, RootGrace: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	issuer.Store(iss)
	oldChain, _ := trustedCA(t, iss, testID)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); iss.Run(ctx) }()
	go func() { defer wg.Done(); iss.FollowCADir(ctx, vol.dir, 10*time.Millisecond) }()
	defer wg.Wait()
	defer cancel()

	vol.update(cacertsOf(t, newCA))
	defer func() {
		if t.Failed() {
			t.Logf("issuer log:\n%s", logs.String())
		}
	}()
	eventually(t, "both roots in ROOTCA", sawBoth.Load)
	eventually(t, "certificates from the new CA", func() bool {
		chain, _ := trustedCA(t, iss, testID)
		return verifies(t, chain, newCA.RootsPEM())
	})
	eventually(t, "the old root dropped", func() bool { return bytes.Equal(iss.RootsPEM(), newCA.RootsPEM()) })
	if verifies(t, oldChain, iss.RootsPEM()) {
		t.Fatal("old certificate still trusted after the rotation")
	}

	broken := cacertsOf(t, third)
	broken[CAKeyFile] = cacertsOf(t, oldCA)[CAKeyFile] // a key that does not match
	vol.update(broken)
	eventually(t, "the broken CA logged", func() bool { return strings.Contains(logs.String(), "changed mesh CA not used") })
	if !sameCA(iss.CA(), newCA) || !bytes.Equal(iss.RootsPEM(), newCA.RootsPEM()) {
		t.Fatal("a broken CA replaced the working one")
	}
	if !strings.Contains(logs.String(), CAKeyFile) {
		t.Errorf("log does not name the file at fault:\n%s", logs.String())
	}
}

// A client given only the old root (a proxy bootstrapped before the
// rotation) keeps connecting to the secure port until the old root leaves
// ROOTCA; from then on the serving certificate is the new CA's.
func TestServingTLSKeepsOldRootClientsUntilTheDrop(t *testing.T) {
	clock := newFakeClock()
	oldCA, newCA := mustSelfSignedCA(t), mustSelfSignedCA(t)
	iss := NewIssuer(oldCA, IssuerOptions{TTL: time.Hour, Now: clock.Now, RootTrustDelay: time.Minute, RootGrace: 5 * time.Minute})
	const name = "isthmus.istio-system.svc"
	server, err := iss.ServingTLS(&tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.VerifyClientCertIfGiven}, []string{name}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	connects := func(roots ...*CA) bool {
		t.Helper()
		pool := x509.NewCertPool()
		for _, ca := range roots {
			pool.AppendCertsFromPEM(ca.RootsPEM())
		}
		clientErr, _ := handshake(&tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}, server)
		return clientErr == nil
	}
	if !connects(oldCA) {
		t.Fatal("a client of the root does not connect before the rotation")
	}
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if iss.CA() != newCA || !connects(oldCA) || !connects(oldCA, newCA) {
		t.Fatal("after the switch, a client of the old root alone or of both roots does not connect")
	}
	clock.Advance(5 * time.Minute)
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(iss.RootsPEM(), newCA.RootsPEM()) {
		t.Fatal("old root not dropped")
	}
	if connects(oldCA) || !connects(newCA) || !connects(oldCA, newCA) {
		t.Fatal("after the drop the serving certificate is not the new CA's")
	}
}

// The served configuration verifies clients against the current bundle
// and is kept between handshakes while nothing changes.
func TestServingTLSVerifiesClientsAgainstTheBundle(t *testing.T) {
	clock := newFakeClock()
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{Now: clock.Now})
	cfg, err := iss.ServingTLS(&tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.VerifyClientCertIfGiven}, []string{"isthmus.istio-system.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := cfg.GetConfigForClient(&tls.ClientHelloInfo{}); c1 != c2 {
		t.Fatal("served configuration not kept between handshakes")
	}
	if c1.ClientCAs != iss.RootPool() || c1.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Fatal("served config does not verify clients against the current bundle")
	}
	if err := iss.Rotate(mustSelfSignedCA(t)); err != nil {
		t.Fatal(err)
	}
	if c3, _ := cfg.GetConfigForClient(&tls.ClientHelloInfo{}); c3.ClientCAs != iss.RootPool() {
		t.Fatal("served config does not follow the bundle's change")
	}
}

// A CA directory that changes between loading its CA and following it is
// not missed: the first check compares with the CA in use.
func TestFollowCADirSeesAChangeBeforeItStarts(t *testing.T) {
	oldCA, newCA := mustSelfSignedCA(t), mustSelfSignedCA(t)
	vol := newSecretVolume(t, cacertsOf(t, oldCA))
	loaded, err := ReloadCA(vol.dir, "")
	if err != nil {
		t.Fatal(err)
	}
	iss := NewIssuer(loaded, IssuerOptions{TTL: time.Hour, RootTrustDelay: time.Hour})
	vol.update(cacertsOf(t, newCA))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); iss.FollowCADir(ctx, vol.dir, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the new root in ROOTCA", func() bool { return bytes.Contains(iss.RootsPEM(), newCA.RootsPEM()) })
}

// A certificate the CA API signed from the old CA (held by istio-agent or
// isthmus agent, not by the Issuer) keeps the old root in ROOTCA until it
// expires, past the grace; Run's next check is set for that moment.
func TestIssuerKeepsOldRootsUntilCAAPICertificatesExpire(t *testing.T) {
	clock := newFakeClock()
	oldCA, newCA := mustSelfSignedCA(t), mustSelfSignedCA(t)
	var logs lockedBuffer
	iss := NewIssuer(oldCA, IssuerOptions{TTL: time.Hour, Now: clock.Now, CheckEvery: 24 * time.Hour,
		RootTrustDelay: time.Minute, RootGrace: 5 * time.Minute, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	trustedCA(t, iss, testID)
	agentCert, err := iss.SignCSR(testCSR(t, newTestKey(t)), testID, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute) // the switch
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if moved, err := iss.SignCSR(testCSR(t, newTestKey(t)), testID, 2*time.Hour); err != nil || !verifies(t, moved.ChainPEM, newCA.RootsPEM()) {
		t.Fatalf("SignCSR after the switch: %v; want a certificate of the new CA", err)
	}

	clock.Advance(5 * time.Minute) // the grace ended
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if rootCount(t, iss.RootsPEM()) != 2 || !verifies(t, agentCert.ChainPEM, iss.RootsPEM()) {
		t.Fatal("old root dropped while a certificate the CA API signed from it is valid")
	}
	if want := agentCert.NotAfter.Sub(clock.Now()); iss.nextCheck() != want {
		t.Errorf("next check in %v, want %v (when the CA-API certificate expires)", iss.nextCheck(), want)
	}
	if until := agentCert.NotAfter.Format("2006-01-02T15:04:05.000Z07:00"); !strings.Contains(logs.String(), "until="+until) {
		t.Errorf("the wait is not logged with its end %s:\n%s", until, logs.String())
	}

	clock.Advance(agentCert.NotAfter.Sub(clock.Now()))
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(iss.RootsPEM(), newCA.RootsPEM()) {
		t.Fatal("old root not dropped once the CA API's certificates of it expired")
	}
}

// Certificates the CA API signed from a CA whose roots stay (the new CA
// itself) do not hold the drop.
func TestIssuerDropsOnTimeWhenCAAPICertificatesAreOfTheNewRoot(t *testing.T) {
	clock := newFakeClock()
	oldCA, newCA := mustSelfSignedCA(t), mustSelfSignedCA(t)
	iss := NewIssuer(oldCA, IssuerOptions{TTL: time.Hour, Now: clock.Now, RootTrustDelay: time.Minute, RootGrace: 5 * time.Minute})
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.SignCSR(testCSR(t, newTestKey(t)), testID, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(iss.RootsPEM(), newCA.RootsPEM()) {
		t.Fatal("old root not dropped after the grace")
	}
}

// An old CA that expires before its roots leave ROOTCA no longer serves:
// its certificate could not be verified anyway.
func TestServingCAGivesWayToTheSigningCAWhenTheOldOneExpires(t *testing.T) {
	clock := newFakeClock()
	oldCA, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newCA := mustSelfSignedCA(t)
	iss := NewIssuer(oldCA, IssuerOptions{Now: clock.Now, RootTrustDelay: time.Minute, RootGrace: 24 * time.Hour})
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := iss.RenewDue(); err != nil {
		t.Fatal(err)
	}
	if iss.ServingCA() != oldCA {
		t.Fatal("serving CA is not the old one during the grace")
	}
	clock.Advance(time.Hour)
	if iss.ServingCA() != newCA {
		t.Fatal("an expired old CA still serves")
	}
}
