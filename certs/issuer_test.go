package certs

import (
	"context"
	"crypto/x509"
	"slices"
	"sync"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rotations records OnRotate calls.
type rotations struct {
	mu    sync.Mutex
	calls [][]Identity
	ch    chan []Identity
}

func newRotations() *rotations { return &rotations{ch: make(chan []Identity, 16)} }

func (r *rotations) record(ids []Identity) {
	r.mu.Lock()
	r.calls = append(r.calls, ids)
	r.mu.Unlock()
	r.ch <- ids
}

func (r *rotations) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func mustSecrets(t *testing.T, iss *Issuer, id Identity) (workload, root *tlsv3.Secret) {
	t.Helper()
	workload, root, err := iss.Secrets(id)
	if err != nil {
		t.Fatalf("Secrets(%s): %v", id, err)
	}
	for _, s := range []*tlsv3.Secret{workload, root} {
		if err := s.Validate(); err != nil {
			t.Fatalf("secret %q does not validate: %v", s.GetName(), err)
		}
	}
	return workload, root
}

func TestIssuerSecretsAsIstioNamesThem(t *testing.T) {
	ca := mustSelfSignedCA(t)
	iss := NewIssuer(ca, IssuerOptions{})
	workload, root := mustSecrets(t, iss, testID)
	if workload.GetName() != "default" || root.GetName() != "ROOTCA" {
		t.Fatalf("secret names %q, %q, want default, ROOTCA", workload.GetName(), root.GetName())
	}
	tc := workload.GetTlsCertificate()
	chain, key := tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes()
	if len(chain) == 0 || len(key) == 0 {
		t.Fatal("default secret lacks inline certificate_chain or private_key")
	}
	if _, err := (&Certificate{ChainPEM: chain, KeyPEM: key}).TLSCertificate(); err != nil {
		t.Errorf("default secret's key does not pair with its chain: %v", err)
	}
	trusted := root.GetValidationContext().GetTrustedCa().GetInlineBytes()
	leaf := verifyLeaf(t, chain, trusted, x509.ExtKeyUsageAny)
	if leaf.URIs[0].String() != testID.SPIFFEID() {
		t.Errorf("default secret is for %s, want %s", leaf.URIs[0], testID.SPIFFEID())
	}
	if string(trusted) != string(ca.RootsPEM()) {
		t.Error("ROOTCA trusted_ca is not the CA's roots")
	}
}

func TestIssuerReturnsSamePointersUntilRenewal(t *testing.T) {
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{})
	other := Identity{DefaultTrustDomain, "default", "ratings"}
	w1, r1 := mustSecrets(t, iss, testID)
	w2, r2 := mustSecrets(t, iss, testID)
	w3, r3 := mustSecrets(t, iss, other)
	if w1 != w2 || r1 != r2 {
		t.Error("second call for one identity returned new secrets")
	}
	if w3 == w1 {
		t.Error("two identities share a workload secret")
	}
	if r3 != r1 {
		t.Error("ROOTCA differs between identities")
	}
}

func TestIssuerRenewsAfterRenewAt(t *testing.T) {
	clock, rot := newFakeClock(), newRotations()
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{TTL: time.Hour, RenewAt: 0.5, Now: clock.Now, OnRotate: rot.record})
	other := Identity{DefaultTrustDomain, "a-first", "sa"}
	before, root := mustSecrets(t, iss, testID)
	mustSecrets(t, iss, other)
	oldCert, _ := iss.Certificate(testID)

	clock.Advance(29 * time.Minute)
	if renewed, err := iss.RenewDue(); err != nil || len(renewed) != 0 {
		t.Fatalf("RenewDue before RenewAt = %v, %v; want nothing", renewed, err)
	}
	if w, _ := mustSecrets(t, iss, testID); w != before || rot.count() != 0 {
		t.Fatal("certificate renewed before RenewAt")
	}

	clock.Advance(2 * time.Minute)
	renewed, err := iss.RenewDue()
	if err != nil {
		t.Fatal(err)
	}
	want := []Identity{other, testID} // sorted
	if !slices.Equal(renewed, want) || rot.count() != 1 || !slices.Equal(rot.calls[0], want) {
		t.Fatalf("renewed %v, OnRotate calls %v; want one call with %v", renewed, rot.calls, want)
	}
	after, rootAfter := mustSecrets(t, iss, testID)
	if after == before {
		t.Error("workload secret pointer unchanged after renewal")
	}
	if rootAfter != root {
		t.Error("ROOTCA pointer changed on renewal")
	}
	newCert, _ := iss.Certificate(testID)
	if !newCert.NotAfter.After(oldCert.NotAfter) {
		t.Errorf("renewed NotAfter %v is not later than %v", newCert.NotAfter, oldCert.NotAfter)
	}
	if again, _ := mustSecrets(t, iss, testID); again != after {
		t.Error("renewed secret is not stable")
	}
}

func TestIssuerKeepsCertificateWhenRenewalFails(t *testing.T) {
	ca, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clock, rot := newFakeClock(), newRotations()
	iss := NewIssuer(ca, IssuerOptions{Now: clock.Now, OnRotate: rot.record})
	before, _ := mustSecrets(t, iss, testID)
	clock.Advance(2 * time.Hour) // past the CA's expiry
	renewed, err := iss.RenewDue()
	if err == nil || len(renewed) != 0 {
		t.Fatalf("RenewDue with an expired CA = %v, %v; want an error", renewed, err)
	}
	if w, _ := mustSecrets(t, iss, testID); w != before || rot.count() != 0 {
		t.Error("failed renewal replaced the secret or called OnRotate")
	}
}

func TestIssuerRetainDropsUnusedIdentities(t *testing.T) {
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{})
	other := Identity{DefaultTrustDomain, "default", "ratings"}
	kept, _ := mustSecrets(t, iss, testID)
	dropped, _ := mustSecrets(t, iss, other)
	iss.Retain(map[Identity]bool{testID: true})
	if iss.Len() != 1 {
		t.Fatalf("Len() = %d after Retain, want 1", iss.Len())
	}
	if w, _ := mustSecrets(t, iss, testID); w != kept {
		t.Error("Retain changed a retained identity's secret")
	}
	if w, _ := mustSecrets(t, iss, other); w == dropped {
		t.Error("dropped identity still had its old secret")
	}
}

func TestIssuerConcurrentFirstCallsShareOneCertificate(t *testing.T) {
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{})
	const callers = 16
	got := make([]*tlsv3.Secret, callers)
	var wg sync.WaitGroup
	for n := range callers {
		wg.Go(func() {
			w, _, err := iss.Secrets(testID)
			if err != nil {
				t.Error(err)
			}
			got[n] = w
		})
	}
	wg.Wait()
	for _, w := range got {
		if w != got[0] {
			t.Fatal("concurrent first calls got different secrets")
		}
	}
}

func TestIssuerSecretsRejectsInvalidIdentity(t *testing.T) {
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{})
	if _, _, err := iss.Secrets(Identity{"example.org", "a", "b"}); err == nil {
		t.Error("Secrets issued for a foreign trust domain")
	}
	if _, _, err := iss.Secrets(Identity{}); err == nil {
		t.Error("Secrets issued for an empty identity")
	}
	if iss.Len() != 0 {
		t.Errorf("failed issuances left %d entries", iss.Len())
	}
}

func TestIssuerRunRenewsAndReports(t *testing.T) {
	clock, rot := newFakeClock(), newRotations()
	iss := NewIssuer(mustSelfSignedCA(t), IssuerOptions{TTL: time.Hour, Now: clock.Now, OnRotate: rot.record, CheckEvery: time.Millisecond})
	before, _ := mustSecrets(t, iss, testID)
	clock.Advance(time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { iss.Run(ctx); close(done) }()
	select {
	case ids := <-rot.ch:
		if !slices.Equal(ids, []Identity{testID}) {
			t.Errorf("OnRotate(%v), want [%s]", ids, testID)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("Run never renewed the due certificate")
	}
	cancel()
	<-done
	if w, _ := mustSecrets(t, iss, testID); w == before {
		t.Error("Run reported a rotation but Secrets returns the old secret")
	}
}
