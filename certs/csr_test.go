package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testCSR is a CSR as istio-agent makes one, plus a DNS name and a
// Subject the CA must not copy.
func testCSR(t *testing.T, key crypto.Signer) *x509.CertificateRequest {
	t.Helper()
	other, _ := url.Parse("spiffe://cluster.local/ns/kube-system/sa/admin")
	tmpl := &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		URIs:     []*url.URL{other},
		DNSNames: []string{"kubernetes.default.svc"},
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func TestSignCSRTakesOnlyTheKeyFromTheRequest(t *testing.T) {
	ca := mustSelfSignedCA(t)
	key := newTestKey(t)
	cert, err := ca.SignCSR(testCSR(t, key), testID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cert.KeyPEM != nil {
		t.Error("a certificate signed from a CSR carries a key")
	}
	leaf := verifyLeaf(t, cert.ChainPEM, ca.RootsPEM(), x509.ExtKeyUsageClientAuth)
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != testID.SPIFFEID() {
		t.Errorf("URI SANs = %v, want exactly [%s]", leaf.URIs, testID.SPIFFEID())
	}
	if len(leaf.DNSNames) != 0 || len(leaf.Subject.Names) != 0 {
		t.Errorf("CSR's DNS names %v or Subject %v copied into the certificate", leaf.DNSNames, leaf.Subject)
	}
	if !key.Public().(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Error("certificate's public key is not the CSR's")
	}
	if cert.ID != testID || !cert.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("Certificate ID %v NotAfter %v, want %v and the leaf's %v", cert.ID, cert.NotAfter, testID, leaf.NotAfter)
	}
}

func TestSignCSRWithIntermediateChainsToRoot(t *testing.T) {
	dir, root, inter := intermediateDir(t)
	ca, err := LoadCA(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignCSR(testCSR(t, newTestKey(t)), testID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	chain := mustParseChain(t, cert.ChainPEM)
	if len(chain) != 2 || !chain[1].Equal(inter.cert) {
		t.Fatalf("chain has %d certificates, want the leaf then the intermediate", len(chain))
	}
	verifyLeaf(t, cert.ChainPEM, encodeCerts(root.cert), x509.ExtKeyUsageServerAuth)
}

func TestSignCSRCapsLifetimeAtCAExpiry(t *testing.T) {
	ca, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignCSR(testCSR(t, newTestKey(t)), testID, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.NotAfter()) {
		t.Errorf("NotAfter = %v, want the CA's %v", cert.NotAfter, ca.NotAfter())
	}
}

func TestSignCSRRejects(t *testing.T) {
	ca := mustSelfSignedCA(t)
	tampered := testCSR(t, newTestKey(t))
	tampered.PublicKey = newTestKey(t).Public() // the signature no longer matches
	cases := map[string]struct {
		csr     *x509.CertificateRequest
		id      Identity
		invalid bool // the error wraps ErrInvalidCSR
		wantErr string
	}{
		"no CSR":               {nil, testID, true, "no CSR"},
		"bad signature":        {tampered, testID, true, "signature"},
		"small RSA key":        {testCSR(t, mustRSAKey(t, 1024)), testID, true, "RSA key of 1024 bits"},
		"P-224":                {testCSR(t, mustECKey(t, elliptic.P224())), testID, true, "curve P-224"},
		"foreign trust domain": {testCSR(t, newTestKey(t)), Identity{"example.org", "a", "b"}, false, `trust domain "example.org"`},
	}
	for name, c := range cases {
		_, err := ca.SignCSR(c.csr, c.id, time.Hour)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || errors.Is(err, ErrInvalidCSR) != c.invalid {
			t.Errorf("%s: err = %v, want %q (wraps ErrInvalidCSR: %v)", name, err, c.wantErr, c.invalid)
		}
	}
}

func TestSignCSRAcceptsRSA2048(t *testing.T) {
	ca := mustSelfSignedCA(t)
	// istio-agent's default key: RSA 2048.
	if _, err := ca.SignCSR(testCSR(t, mustRSAKey(t, 2048)), testID, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func mustRSAKey(t *testing.T, bits int) crypto.Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustECKey(t *testing.T, curve elliptic.Curve) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
