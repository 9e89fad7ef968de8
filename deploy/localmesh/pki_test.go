package localmesh

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// A certificate the test CA issues verifies against its pool for its DNS
// name and carries its URI SAN.
func TestTestCAIssuesVerifiableCertificates(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"shop.example.com"}, []string{"spiffe://cluster.local/ns/a/sa/b"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "shop.example.com"}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://cluster.local/ns/a/sa/b" {
		t.Errorf("URI SANs %v", leaf.URIs)
	}
}
