package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/isthmus-mesh/isthmus/certs"
)

var reviews = certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "shop", ServiceAccount: "reviews"}

// testCA is a root the tests sign arbitrary leaves with.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"Isthmus test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	return &testCA{cert: sign(t, tmpl, tmpl, key.Public(), key), key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// leafSpec shapes a client certificate; the zero value is a valid mesh
// certificate without SANs.
type leafSpec struct {
	uris     []string
	notAfter time.Time // zero: in an hour
	eku      x509.ExtKeyUsage
}

func (ca *testCA) leaf(t *testing.T, spec leafSpec) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		NotBefore:   time.Now().Add(-2 * time.Hour),
		NotAfter:    spec.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	if spec.eku != 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{spec.eku}
	}
	for _, s := range spec.uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return sign(t, tmpl, ca.cert, newKey(t).Public(), ca.key)
}

func sign(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// tlsPeer is the context of a call over TLS whose client presented chain.
func tlsPeer(chain ...*x509.Certificate) context.Context {
	info := credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: chain}}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: info})
}

// bearer is the context of a call carrying token as istio-agent sends it.
func bearer(token string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
}

// unsignedJWT is a JWT with the given claims and a signature nobody made.
func unsignedJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("not a signature"))
}

// wantRefused fails t unless err is an *Error of reason.
func wantRefused(t *testing.T, what string, id certs.Identity, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: authenticated as %v, want refused (%s)", what, id, reason)
		return
	}
	if got := ReasonOf(err); got != reason {
		t.Errorf("%s: reason %q (%v), want %q", what, got, err, reason)
	}
	if id != (certs.Identity{}) {
		t.Errorf("%s: refused but returned identity %v", what, id)
	}
}
