package rbac

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// testServerName is the DNS name of the test server certificate.
const testServerName = "backend.test"

// testPKI is a throwaway CA with a server certificate, issuing client
// certificates that carry SPIFFE identities as mesh peers do.
type testPKI struct {
	caCert, serverCert, serverKey string // PEM
	ca                            *x509.Certificate
	caKey                         *ecdsa.PrivateKey
	pool                          *x509.CertPool
	serial                        int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rbac-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{ca: ca, caKey: key, caCert: pemBlock("CERTIFICATE", der), pool: x509.NewCertPool(), serial: 1}
	p.pool.AddCert(ca)
	server := p.issue(t, func(c *x509.Certificate) {
		c.DNSNames = []string{testServerName}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	p.serverCert, p.serverKey = server.certPEM, server.keyPEM
	return p
}

type issued struct {
	certPEM, keyPEM string
	pair            tls.Certificate
}

func (p *testPKI) issue(t *testing.T, shape func(*x509.Certificate)) issued {
	t.Helper()
	key := newKey(t)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	shape(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := issued{certPEM: pemBlock("CERTIFICATE", der), keyPEM: pemBlock("EC PRIVATE KEY", keyDER)}
	if out.pair, err = tls.X509KeyPair([]byte(out.certPEM), []byte(out.keyPEM)); err != nil {
		t.Fatal(err)
	}
	return out
}

// clientTLS is a client configuration presenting the SPIFFE identity id.
func (p *testPKI) clientTLS(t *testing.T, id string) *tls.Config {
	t.Helper()
	uri, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	client := p.issue(t, func(c *x509.Certificate) {
		c.URIs = []*url.URL{uri}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	return &tls.Config{Certificates: []tls.Certificate{client.pair}, RootCAs: p.pool, ServerName: testServerName}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pemBlock(kind string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}
