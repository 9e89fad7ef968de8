package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestIssuedCertificateVerifiesAgainstRoots(t *testing.T) {
	ca := mustSelfSignedCA(t)
	cert, err := ca.Issue(testID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageAny, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		verifyLeaf(t, cert.ChainPEM, ca.RootsPEM(), usage)
	}
	if n := len(mustParseChain(t, cert.ChainPEM)); n != 1 {
		t.Errorf("chain from a self-signed root has %d certificates, want the leaf alone", n)
	}
	if cert.ID != testID {
		t.Errorf("ID = %v, want %v", cert.ID, testID)
	}
}

func TestIssuedCertificateShape(t *testing.T) {
	ca := mustSelfSignedCA(t)
	before := time.Now()
	cert, err := ca.Issue(testID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustParseChain(t, cert.ChainPEM)[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != testID.SPIFFEID() {
		t.Errorf("URI SANs = %v, want exactly [%s]", leaf.URIs, testID.SPIFFEID())
	}
	if len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 {
		t.Errorf("leaf has other SANs: dns %v ip %v email %v", leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; leaf.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", leaf.KeyUsage, want)
	}
	if !hasEKUs(leaf, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth) || len(leaf.ExtKeyUsage) != 2 {
		t.Errorf("ExtKeyUsage = %v, want serverAuth and clientAuth", leaf.ExtKeyUsage)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if !leaf.NotBefore.Before(before) {
		t.Errorf("NotBefore %v is not backdated before issuance at %v", leaf.NotBefore, before)
	}
	if got := leaf.NotAfter.Sub(before); got < time.Hour-time.Minute || got > time.Hour+time.Minute {
		t.Errorf("lifetime after issuance = %v, want about 1h", got)
	}
	if !leaf.NotAfter.Equal(cert.NotAfter) || !leaf.NotBefore.Equal(cert.NotBefore) {
		t.Errorf("Certificate times %v..%v differ from the leaf's %v..%v", cert.NotBefore, cert.NotAfter, leaf.NotBefore, leaf.NotAfter)
	}
	if _, err := cert.TLSCertificate(); err != nil {
		t.Errorf("key does not pair with the leaf: %v", err)
	}
}

func hasEKUs(c *x509.Certificate, want ...x509.ExtKeyUsage) bool {
	for _, w := range want {
		found := false
		for _, e := range c.ExtKeyUsage {
			found = found || e == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestIssueCapsLifetimeAtCAExpiry(t *testing.T) {
	ca, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(testID, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.NotAfter()) {
		t.Errorf("NotAfter = %v, want the CA's %v", cert.NotAfter, ca.NotAfter())
	}
	if _, err := ca.issue(testID, time.Hour, ca.NotAfter().Add(time.Second)); err == nil || !strings.Contains(err.Error(), "CA expired") {
		t.Errorf("issuing after the CA expired: err = %v, want CA expired", err)
	}
}

func TestIssueRejects(t *testing.T) {
	ca := mustSelfSignedCA(t)
	cases := map[string]struct {
		id      Identity
		ttl     time.Duration
		wantErr string
	}{
		"foreign trust domain": {Identity{"example.org", "a", "b"}, time.Hour, `trust domain "example.org" is not the CA's "cluster.local"`},
		"invalid identity":     {Identity{DefaultTrustDomain, "", "b"}, time.Hour, "namespace is empty"},
		"zero ttl":             {testID, 0, "ttl 0s is not positive"},
	}
	for name, c := range cases {
		_, err := ca.Issue(c.id, c.ttl)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: err = %v, want %q", name, err, c.wantErr)
		}
	}
}

func TestSelfSignedCALikeIstiod(t *testing.T) {
	ca, err := NewSelfSignedCA("example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ca.TrustDomain() != "example.org" {
		t.Errorf("TrustDomain() = %q", ca.TrustDomain())
	}
	roots := mustParseChain(t, ca.RootsPEM())
	if len(roots) != 1 {
		t.Fatalf("RootsPEM holds %d certificates, want 1", len(roots))
	}
	root := roots[0]
	if !root.IsCA || root.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("root is not a signing CA: IsCA %v KeyUsage %v", root.IsCA, root.KeyUsage)
	}
	if got := root.Subject.Organization; len(got) != 1 || got[0] != "example.org" {
		t.Errorf("root Subject O = %v, want [example.org]", got)
	}
	if _, err := NewSelfSignedCA("Bad Domain", time.Hour); err == nil {
		t.Error("NewSelfSignedCA accepted an invalid trust domain")
	}
}
