package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/isthmus-mesh/isthmus/certs"
)

func TestCertAuthenticatorAcceptsMeshCertificate(t *testing.T) {
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Issue(reviews, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := issued.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.RootsPEM())
	auth := NewCertAuthenticator(certs.DefaultTrustDomain, func() *x509.CertPool { return roots })
	id, err := auth.Authenticate(tlsPeer(pair.Leaf), "ignored")
	if err != nil || id != reviews {
		t.Fatalf("Authenticate = %v, %v; want %v", id, err, reviews)
	}
}

func TestCertAuthenticatorRefuses(t *testing.T) {
	mesh, foreign := newTestCA(t), newTestCA(t)
	roots := mesh.pool()
	roots.AddCert(foreign.cert) // a second root: trust-domain checks must still hold
	otherDomain := newTestCA(t)
	roots.AddCert(otherDomain.cert)
	stranger := newTestCA(t)
	good := reviews.SPIFFEID()
	auth := NewCertAuthenticator(certs.DefaultTrustDomain, func() *x509.CertPool { return roots })
	cases := map[string]struct {
		ctx    context.Context
		reason string
	}{
		"other trust domain": {tlsPeer(otherDomain.leaf(t, leafSpec{uris: []string{"spiffe://example.org/ns/shop/sa/reviews"}})), ReasonBadCertificate},
		"no SAN":             {tlsPeer(mesh.leaf(t, leafSpec{})), ReasonBadCertificate},
		"two SANs":           {tlsPeer(mesh.leaf(t, leafSpec{uris: []string{good, "spiffe://cluster.local/ns/kube-system/sa/admin"}})), ReasonBadCertificate},
		"not SPIFFE":         {tlsPeer(mesh.leaf(t, leafSpec{uris: []string{"https://cluster.local/ns/shop/sa/reviews"}})), ReasonBadCertificate},
		"not from the CA":    {tlsPeer(stranger.leaf(t, leafSpec{uris: []string{good}})), ReasonBadCertificate},
		"server-only usage":  {tlsPeer(mesh.leaf(t, leafSpec{uris: []string{good}, eku: x509.ExtKeyUsageServerAuth})), ReasonBadCertificate},
		"expired":            {tlsPeer(mesh.leaf(t, leafSpec{uris: []string{good}, notAfter: time.Now().Add(-time.Minute)})), ReasonExpired},
		"plaintext":          {peer.NewContext(context.Background(), &peer.Peer{AuthInfo: plaintext{}}), ReasonNoCredential},
		"no peer":            {context.Background(), ReasonNoCredential},
		"TLS, no cert":       {tlsPeer(), ReasonNoCredential},
	}
	for name, c := range cases {
		id, err := auth.Authenticate(c.ctx, "")
		wantRefused(t, name, id, err, c.reason)
	}
}

func TestCertAuthenticatorFollowsRootRotation(t *testing.T) {
	oldCA, newCA := newTestCA(t), newTestCA(t)
	var roots atomic.Pointer[x509.CertPool]
	roots.Store(oldCA.pool())
	auth := NewCertAuthenticator(certs.DefaultTrustDomain, roots.Load)
	oldLeaf := oldCA.leaf(t, leafSpec{uris: []string{reviews.SPIFFEID()}})
	newLeaf := newCA.leaf(t, leafSpec{uris: []string{reviews.SPIFFEID()}})
	if _, err := auth.Authenticate(tlsPeer(oldLeaf), ""); err != nil {
		t.Fatalf("old root: %v", err)
	}
	roots.Store(newCA.pool())
	id, err := auth.Authenticate(tlsPeer(oldLeaf), "")
	wantRefused(t, "certificate of the retired root", id, err, ReasonBadCertificate)
	if _, err := auth.Authenticate(tlsPeer(newLeaf), ""); err != nil {
		t.Errorf("new root: %v", err)
	}
	roots.Store(nil)
	id, err = auth.Authenticate(tlsPeer(newLeaf), "")
	wantRefused(t, "no roots", id, err, ReasonBadCertificate)
}

func TestCertAuthenticatorUsesIntermediates(t *testing.T) {
	root := newTestCA(t)
	key := newKey(t)
	interTmpl := &x509.Certificate{
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	inter := &testCA{cert: sign(t, interTmpl, root.cert, key.Public(), root.key), key: key}
	leaf := inter.leaf(t, leafSpec{uris: []string{reviews.SPIFFEID()}})
	auth := NewCertAuthenticator(certs.DefaultTrustDomain, root.pool)
	if id, err := auth.Authenticate(tlsPeer(leaf, inter.cert), ""); err != nil || id != reviews {
		t.Errorf("leaf and intermediate: %v, %v; want %v", id, err, reviews)
	}
	id, err := auth.Authenticate(tlsPeer(leaf), "")
	wantRefused(t, "leaf without its intermediate", id, err, ReasonBadCertificate)
}

// plaintext is the AuthInfo of a connection without TLS.
type plaintext struct{}

func (plaintext) AuthType() string { return "insecure" }

// An authenticator trusting the handshake takes a chain the handshake
// verified without verifying it again, but still refuses it once expired;
// a chain the handshake did not verify is verified as always.
func TestCertAuthenticatorTrustingHandshake(t *testing.T) {
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.Issue(reviews, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := issued.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	noRoots := func() *x509.CertPool { return x509.NewCertPool() } // verifying would fail
	auth := NewCertAuthenticator(certs.DefaultTrustDomain, noRoots).TrustingHandshake()
	verified := func(now time.Time) context.Context {
		info := credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{pair.Leaf},
			VerifiedChains: [][]*x509.Certificate{{pair.Leaf}}}}
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: info})
	}
	if id, err := auth.Authenticate(verified(time.Now()), ""); err != nil || id != reviews {
		t.Fatalf("chain verified by the handshake: %v, %v; want %v", id, err, reviews)
	}
	later := *auth
	later.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := later.Authenticate(verified(time.Now()), ""); ReasonOf(err) != ReasonExpired {
		t.Fatalf("expired chain verified by the handshake: %v, want refused as expired", err)
	}
	if _, err := auth.Authenticate(tlsPeer(pair.Leaf), ""); ReasonOf(err) != ReasonBadCertificate {
		t.Fatalf("chain the handshake did not verify: %v, want verified (and refused: no roots)", err)
	}
}
