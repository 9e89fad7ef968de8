package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
	"github.com/isthmus-mesh/isthmus/certs/caservice"
)

const serverName = "isthmus.istio-system.svc"

var reviews = certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "shop", ServiceAccount: "reviews"}

// fakeToken is a JWT-shaped token whose subject is sa in ns (unsigned: the
// stub authenticator only compares it).
func fakeToken(ns, sa string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"aud":["istio-ca"],"sub":"system:serviceaccount:`+ns+`:`+sa+`"}`)) + ".sig"
}

// stubTokens accepts one bearer token as one identity and records the
// cluster each call named.
type stubTokens struct {
	token string
	id    certs.Identity

	mu       sync.Mutex
	clusters []string
}

func (s *stubTokens) Authenticate(ctx context.Context, clusterID string) (certs.Identity, error) {
	s.mu.Lock()
	s.clusters = append(s.clusters, clusterID)
	s.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) != 1 {
		return certs.Identity{}, &authn.Error{Reason: authn.ReasonNoCredential}
	}
	if values[0] != "Bearer "+s.token {
		return certs.Identity{}, &authn.Error{Reason: authn.ReasonBadToken, Err: errors.New("unknown token")}
	}
	return s.id, nil
}

func (s *stubTokens) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.clusters...)
}

// mesh is Isthmus's CA service on a TLS gRPC server on loopback, with the
// serving certificate the secure port has, and the files an agent reads.
type mesh struct {
	roots     []byte // the mesh roots, PEM, as the root file holds them
	auth      *stubTokens
	addr      string
	rootFile  string
	tokenFile string
}

func startMesh(t *testing.T, maxTTL time.Duration) *mesh {
	t.Helper()
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return startMeshWith(t, ca, ca, maxTTL)
}

// startMeshWith serves the CA API signing with signer, over a certificate
// of ca; the mesh roots are signer's.
func startMeshWith(t *testing.T, ca *certs.CA, signer caservice.Signer, maxTTL time.Duration) *mesh {
	t.Helper()
	serving, err := ca.IssueServing([]string{serverName}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs: ca.RootPool(), MinVersion: tls.VersionTLS12})
	auth := &stubTokens{token: fakeToken("shop", "reviews"), id: reviews}
	gs := grpc.NewServer(grpc.Creds(creds))
	caservice.New(signer, auth, caservice.Options{MaxTTL: maxTTL, Logger: quiet()}).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	dir := t.TempDir()
	m := &mesh{roots: signer.RootsPEM(), auth: auth, addr: lis.Addr().String(), rootFile: filepath.Join(dir, "root-cert.pem"), tokenFile: filepath.Join(dir, "istio-token")}
	writeFile(t, m.rootFile, string(m.roots))
	writeFile(t, m.tokenFile, auth.token+"\n")
	return m
}

func (m *mesh) options(out string) Options {
	return Options{CAAddress: m.addr, ServerName: serverName, RootCertFile: m.rootFile, TokenFile: m.tokenFile,
		ClusterID: "east", OutputDir: out, Logger: quiet(), MinRetry: 50 * time.Millisecond, MaxRetry: 200 * time.Millisecond}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newAgent(t *testing.T, opts Options) *Agent {
	t.Helper()
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkFiles checks the files in dir: the key is the certificate's, the
// chain verifies to the mesh root for client authentication, the only SAN
// is id, and root-cert.pem is the mesh roots. It returns the leaf.
func checkFiles(t *testing.T, m *mesh, dir string, id certs.Identity) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertChainFile), filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatalf("key and certificate: %v", err)
	}
	leaf := pair.Leaf
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.SPIFFEID() || len(leaf.DNSNames) != 0 {
		t.Errorf("SANs %v %v, want only %s", leaf.URIs, leaf.DNSNames, id)
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			t.Errorf("cert-chain.pem holds the root %s", c.Subject)
		}
		inter.AddCert(c)
	}
	roots, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(roots, m.roots) {
		t.Errorf("root-cert.pem is not the mesh roots")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.roots)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("chain does not verify: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key.pem mode %v, want 0600", perm)
	}
	return leaf
}

// TestFetchWritesCredential: one request, identity from the token's
// claims, writes a key, its certificate for that identity chaining to the
// mesh root, and the roots; the cluster id reaches the authenticator.
func TestFetchWritesCredential(t *testing.T) {
	m := startMesh(t, time.Hour)
	out := filepath.Join(t.TempDir(), "certs")
	opts := m.options(out)
	opts.TTL = 30 * time.Minute
	cred, err := newAgent(t, opts).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	leaf := checkFiles(t, m, out, reviews)
	if cred.ID != reviews || !cred.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("credential %+v, leaf until %v", cred, leaf.NotAfter)
	}
	if life := time.Until(leaf.NotAfter); life > 31*time.Minute || life < 29*time.Minute {
		t.Errorf("certificate lives %v more, asked 30m", life)
	}
	if got := m.auth.calls(); len(got) != 1 || got[0] != "east" {
		t.Errorf("clusters named %v, want [east]", got)
	}
	checkLayout(t, out)
}

// TestFetchDuringRootRotation: while the CA is rotating, its answer ends
// with both roots; cert-chain.pem still holds no root.
func TestFetchDuringRootRotation(t *testing.T) {
	oldCA, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	iss := certs.NewIssuer(oldCA, certs.IssuerOptions{Logger: quiet()})
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	m := startMeshWith(t, oldCA, iss, time.Hour)
	out := filepath.Join(t.TempDir(), "certs")
	if _, err := newAgent(t, m.options(out)).Fetch(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, m, out, reviews)
}

// checkLayout: dir holds the three files as links through ..data, ..data
// and the one version it names, nothing else.
func checkLayout(t *testing.T, dir string) {
	t.Helper()
	version, err := os.Readlink(filepath.Join(dir, DataLink))
	if err != nil {
		t.Fatalf("no %s link: %v", DataLink, err)
	}
	want := map[string]bool{DataLink: true, version: true}
	for _, name := range []string{CertChainFile, KeyFile, RootCertFile} {
		want[name] = true
		if target, err := os.Readlink(filepath.Join(dir, name)); err != nil || target != filepath.Join(DataLink, name) {
			t.Errorf("%s links to %q (%v), want %s", name, target, err, filepath.Join(DataLink, name))
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("output holds %s (a temporary file or an old version left)", e.Name())
		}
	}
	if len(entries) != len(want) {
		t.Errorf("output holds %d entries, want %d", len(entries), len(want))
	}
}

// TestWriteFilesSwapsVersions: each write is a new version the ..data
// link moves to; the old one is removed, and plain files of the earlier
// layout become links.
func TestWriteFilesSwapsVersions(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{CertChainFile, KeyFile, RootCertFile} {
		writeFile(t, filepath.Join(dir, name), "old "+name)
	}
	writeFile(t, filepath.Join(dir, "."+KeyFile+".123"), "left by the earlier layout")
	for i, v := range []string{"one", "two"} {
		if err := WriteFiles(dir, []byte("chain "+v), []byte("key "+v), []byte("roots "+v)); err != nil {
			t.Fatal(err)
		}
		checkLayout(t, dir)
		for name, want := range map[string]string{CertChainFile: "chain " + v, KeyFile: "key " + v, RootCertFile: "roots " + v} {
			if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
				t.Errorf("write %d: %s holds %q (%v), want %q", i, name, got, err, want)
			}
		}
		if info, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("write %d: key mode %v (%v), want 0600", i, info.Mode().Perm(), err)
		}
	}
}

// TestRefusedWritesNothing: a token the CA refuses, or an identity it does
// not prove, is an error and leaves no file.
func TestRefusedWritesNothing(t *testing.T) {
	m := startMesh(t, time.Hour)
	cases := map[string]struct {
		token string
		id    certs.Identity
		code  codes.Code
	}{
		"refused token":  {token: fakeToken("shop", "other"), code: codes.Unauthenticated},
		"other identity": {token: fakeToken("shop", "reviews"), id: certs.Identity{Namespace: "shop", ServiceAccount: "ratings"}, code: codes.PermissionDenied},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			writeFile(t, m.tokenFile, c.token)
			out := t.TempDir()
			opts := m.options(out)
			opts.Identity = c.id
			_, err := newAgent(t, opts).Fetch(t.Context())
			if status.Code(err) != c.code {
				t.Fatalf("error %v, want %v", err, c.code)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("output holds %d entries after a refusal", len(entries))
			}
		})
	}
}

// TestFetchRefusesWrongServer: a secure port whose certificate does not
// chain to the mesh roots gets no token.
func TestFetchRefusesWrongServer(t *testing.T) {
	m := startMesh(t, time.Hour)
	other, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, m.rootFile, string(other.RootsPEM()))
	out := t.TempDir()
	opts := m.options(out)
	opts.RequestTimeout = 2 * time.Second
	if _, err := newAgent(t, opts).Fetch(t.Context()); err == nil {
		t.Fatal("fetched from a server the mesh roots do not vouch for")
	}
	if got := m.auth.calls(); len(got) != 0 {
		t.Errorf("the server was called %d times", len(got))
	}
}

// TestRunRenews: with certificates of 2 seconds, Run replaces the files
// with a new key and certificate before the old one expires.
func TestRunRenews(t *testing.T) {
	m := startMesh(t, 2*time.Second)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- newAgent(t, m.options(out)).Run(ctx) }()
	first := waitForLeaf(t, out, nil)
	checkFiles(t, m, out, reviews)
	second := waitForLeaf(t, out, first)
	if !time.Now().Before(first.NotAfter.Add(time.Second)) {
		t.Errorf("renewed at %v, the first certificate expired at %v", time.Now(), first.NotAfter)
	}
	checkFiles(t, m, out, reviews)
	if second.PublicKey.(*ecdsa.PublicKey).Equal(first.PublicKey) {
		t.Error("renewal kept the key")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// TestRunRetries: Run keeps trying while the token is missing, and writes
// the files once it appears.
func TestRunRetries(t *testing.T) {
	m := startMesh(t, time.Hour)
	token, _ := os.ReadFile(m.tokenFile)
	os.Remove(m.tokenFile)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go newAgent(t, m.options(out)).Run(ctx)
	time.Sleep(300 * time.Millisecond)
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Fatalf("files written without a token")
	}
	writeFile(t, m.tokenFile, string(token))
	waitForLeaf(t, out, nil)
	checkFiles(t, m, out, reviews)
}

// waitForLeaf waits for cert-chain.pem to hold a leaf other than prev.
func waitForLeaf(t *testing.T, dir string, prev *x509.Certificate) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CertChainFile), filepath.Join(dir, KeyFile)); err == nil {
			if prev == nil || !pair.Leaf.Equal(prev) {
				return pair.Leaf
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no new certificate within 10s")
	return nil
}

func TestTokenServiceAccount(t *testing.T) {
	ns, sa, err := tokenServiceAccount(fakeToken("shop", "reviews"))
	if err != nil || ns != "shop" || sa != "reviews" {
		t.Errorf("got %q %q %v", ns, sa, err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, bad := range []string{"opaque", "a.b.c", "x." + enc([]byte(`{"sub":"alice"}`)) + ".y", "x." + enc([]byte(`{"sub":"system:serviceaccount:ns"}`)) + ".y"} {
		if _, _, err := tokenServiceAccount(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRenewAt(t *testing.T) {
	now := time.Now()
	c := &Credential{NotBefore: now.Add(-2 * time.Minute), NotAfter: now.Add(24 * time.Hour), Received: now}
	if got := c.RenewAt(); !got.Equal(now.Add(12 * time.Hour)) {
		t.Errorf("RenewAt %v, want received + 12h", got.Sub(now))
	}
}
