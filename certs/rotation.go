package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// trustState is the Issuer's CA and trust bundle, guarded by Issuer.mu.
// A rotation goes: Rotate adds the new roots to the bundle and sets target;
// at switchAt the target becomes the signing CA (certificates of another CA
// are then due); at dropAt, once no certificate of another CA remains and
// every certificate the CA API signed with a CA whose roots leave has
// expired, the bundle shrinks to the signing CA's roots and serving
// becomes the signing CA.
type trustState struct {
	signing  *CA
	target   *CA // the CA rotated to, until it signs; nil when none
	switchAt time.Time
	dropAt   time.Time // zero: no old roots to drop
	// serving issues Isthmus's own serving certificates: the CA that
	// signed before the rotation while its roots are still in the bundle
	// (every client has them), else the signing CA.
	serving *CA

	caAPI      caAPIRecord // when SignCSR's certificates of each CA expire
	drops      uint64      // how many times old roots were dropped
	waitLogged time.Time   // the CA-API wait last logged

	bundle        []*x509.Certificate
	bundlePEM     []byte
	pool          *x509.CertPool
	root          *tlsv3.Secret
	err           error // from building root; returned by Secrets
	bundleChanged bool  // not yet reported through OnRotate
}

func newTrustState(ca *CA) trustState {
	t := trustState{signing: ca, serving: ca, caAPI: caAPIRecord{}}
	roots, _ := parseCerts(ca.RootsPEM()) // a CA's roots were parsed when it was made
	t.setBundle(roots)
	t.bundleChanged = false
	return t
}

func (t *trustState) setBundle(roots []*x509.Certificate) {
	t.bundle = roots
	t.bundlePEM = encodeCerts(roots...)
	t.pool = poolOf(roots)
	t.root, t.err = RootSecret(t.bundlePEM)
	t.bundleChanged = true
}

// Rotate moves the Issuer to ca, which must issue in the same trust domain,
// without breaking a connection between proxies: ca's roots join ROOTCA at
// once (the old ones stay); RootTrustDelay later, once every proxy has had
// time to trust them, every certificate is re-issued from ca (roots already
// in ROOTCA need no delay); RootGrace after the last of them, once the
// certificates SignCSR signed from them have expired too, the roots that
// are not ca's leave ROOTCA. Each step reaches proxies through OnRotate.
// ServingCA stays the previous CA until that drop.
// Rotating to the CA in use, or to the one a rotation is already heading
// for, does nothing; rotating again mid-way heads for the newest CA and
// keeps every root trusted until it signs everything.
func (i *Issuer) Rotate(ca *CA) error {
	if ca.TrustDomain() != i.trustDomain {
		return fmt.Errorf("rotate CA: trust domain %q is not %q", ca.TrustDomain(), i.trustDomain)
	}
	roots, err := parseCerts(ca.RootsPEM())
	if err != nil {
		return fmt.Errorf("rotate CA: roots: %w", err)
	}
	now := i.opts.Now()
	i.mu.Lock()
	t := &i.trust
	if (t.target == nil && sameCA(ca, t.signing)) || (t.target != nil && sameCA(ca, t.target)) {
		i.mu.Unlock()
		return nil
	}
	trusted := containsAll(t.bundle, roots)
	if !trusted {
		merged := append(slices.Clip(t.bundle), missing(t.bundle, roots)...)
		if _, err := RootSecret(encodeCerts(merged...)); err != nil {
			i.mu.Unlock()
			return fmt.Errorf("rotate CA: %w", err)
		}
		t.setBundle(merged)
	}
	t.target, t.switchAt = ca, now
	if !trusted {
		t.switchAt = now.Add(i.opts.RootTrustDelay)
	}
	switchAt := t.switchAt
	i.mu.Unlock()
	i.opts.Logger.Info("rotating mesh CA: new roots trusted now, certificates move to the new CA at switch",
		"new_ca", ca.cert.Subject.String(), "roots_added", !trusted, "switch", switchAt)
	select {
	case i.wake <- struct{}{}:
	default:
	}
	_, err = i.RenewDue() // serves the new bundle, or switches at once
	return err
}

// switchIfDue makes the rotation's target the signing CA once its time came.
func (i *Issuer) switchIfDue() {
	now := i.opts.Now()
	i.mu.Lock()
	t := &i.trust
	if t.target == nil || now.Before(t.switchAt) {
		i.mu.Unlock()
		return
	}
	t.signing, t.target = t.target, nil
	signingRoots, _ := parseCerts(t.signing.RootsPEM())
	if containsAll(signingRoots, t.bundle) {
		t.serving = t.signing // every client trusts its roots already
	} else {
		t.dropAt = now.Add(i.opts.RootGrace)
	}
	dropAt, subject := t.dropAt, t.signing.cert.Subject.String()
	i.mu.Unlock()
	i.opts.Logger.Info("mesh CA switched: certificates are now issued by the new CA", "ca", subject, "old_roots_dropped_after", dropAt)
}

// dropIfDue shrinks ROOTCA to the signing CA's roots once the grace passed,
// no certificate of another CA remains and the CA API's certificates of
// the roots leaving have expired; it reports whether it did.
func (i *Issuer) dropIfDue() bool {
	now := i.opts.Now()
	i.mu.Lock()
	t := &i.trust
	if t.dropAt.IsZero() || t.target != nil || now.Before(t.dropAt) || i.holdsOtherCA() {
		i.mu.Unlock()
		return false
	}
	roots, _ := parseCerts(t.signing.RootsPEM())
	if until, news := t.caAPIWait(now, roots); !until.IsZero() {
		i.mu.Unlock()
		if news {
			i.opts.Logger.Info("old roots stay in ROOTCA until the certificates the CA API signed from them expire",
				"until", until, "wait", until.Sub(now).Round(time.Second))
		}
		return false
	}
	dropped := len(t.bundle) - len(roots)
	t.setBundle(roots)
	t.dropAt, t.waitLogged, t.serving = time.Time{}, time.Time{}, t.signing
	t.drops++
	t.bundleChanged = false // reported by the caller
	i.mu.Unlock()
	i.opts.Logger.Info("mesh CA rotation done: old roots dropped from ROOTCA; the serving certificate moves to the new CA", "dropped", dropped)
	return true
}

// caAPIWait is until when the drop of the roots not in keep waits for
// certificates the CA API signed from them (zero: it need not wait), and
// whether that is news, not yet logged.
func (t *trustState) caAPIWait(now time.Time, keep []*x509.Certificate) (until time.Time, news bool) {
	until = t.caAPI.until(now, keep)
	news = !until.IsZero() && !until.Equal(t.waitLogged)
	t.waitLogged = until
	return until, news
}

// holdsOtherCA reports whether a certificate the Issuer keeps is not from
// the signing CA. Called with i.mu held.
func (i *Issuer) holdsOtherCA() bool {
	for _, entry := range i.issued {
		if entry.ca != i.trust.signing {
			return true
		}
	}
	return false
}

func (i *Issuer) takeBundleChanged() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	changed := i.trust.bundleChanged
	i.trust.bundleChanged = false
	return changed
}

// nextCheck is how long Run waits before the next RenewDue: CheckEvery, or
// less when a rotation's next phase comes sooner.
func (i *Issuer) nextCheck() time.Duration {
	now := i.opts.Now()
	d := i.opts.CheckEvery
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.trust.target != nil {
		d = min(d, i.trust.switchAt.Sub(now))
	}
	if t := &i.trust; !t.dropAt.IsZero() {
		roots, _ := parseCerts(t.signing.RootsPEM())
		d = min(d, latest(t.dropAt, t.caAPI.until(now, roots)).Sub(now))
	}
	return max(d, 10*time.Millisecond)
}

// CA is the CA certificates are issued from now.
func (i *Issuer) CA() *CA {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.trust.signing
}

// TrustDomain is the trust domain the Issuer issues identities in.
func (i *Issuer) TrustDomain() string { return i.trustDomain }

// RootsPEM is the trust bundle served as ROOTCA: during a rotation, the old
// and the new roots. Do not modify it.
func (i *Issuer) RootsPEM() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.trust.bundlePEM
}

// RootPool is the pool of RootsPEM, for verifying the mesh's certificates;
// it follows rotations (pass the method value where a func is taken). Do
// not modify it.
func (i *Issuer) RootPool() *x509.CertPool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.trust.pool
}

// sameCA reports whether a and b sign alike and give the same bundle.
func sameCA(a, b *CA) bool {
	return a.cert.Equal(b.cert) && bytes.Equal(a.chainPEM, b.chainPEM) && bytes.Equal(a.rootsPEM, b.rootsPEM) && keyMatches(a.signer, b.cert)
}

func containsAll(set, certs []*x509.Certificate) bool {
	return len(missing(set, certs)) == 0
}

// missing lists the certificates of certs not in set.
func missing(set, certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if !slices.ContainsFunc(set, c.Equal) && !slices.ContainsFunc(out, c.Equal) {
			out = append(out, c)
		}
	}
	return out
}
