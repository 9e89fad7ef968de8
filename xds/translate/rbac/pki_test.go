package rbac

import (
	"crypto/tls"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// testServerName is the DNS name of the test server certificate.
const testServerName = "backend.test"

// testPKI is a throwaway CA with a server certificate, issuing client
// certificates that carry SPIFFE identities as mesh peers do.
type testPKI struct {
	caCert, serverCert, serverKey string // PEM
	ca                            *localmesh.TestCA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := localmesh.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue([]string{testServerName}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{caCert: string(ca.PEM), serverCert: string(cert), serverKey: string(key), ca: ca}
}

// clientTLS is a client configuration presenting the SPIFFE identity id.
func (p *testPKI) clientTLS(t *testing.T, id string) *tls.Config {
	t.Helper()
	cert, key, err := p.ca.Issue(nil, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: p.ca.Pool(), ServerName: testServerName}
}
