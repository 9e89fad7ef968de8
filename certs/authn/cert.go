package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/isthmus-mesh/isthmus/certs"
)

// CertAuthenticator proves identities from the client certificate of a TLS
// connection. It is immutable and safe for concurrent use.
type CertAuthenticator struct {
	trustDomain string
	roots       func() *x509.CertPool
	now         func() time.Time
	// handshake: the server's tls.Config verifies client certificates
	// against roots() itself (see TrustingHandshake).
	handshake bool
}

// NewCertAuthenticator returns an authenticator accepting client
// certificates that chain to roots() (called on every call, so the mesh
// roots may rotate) and name one identity of trustDomain.
func NewCertAuthenticator(trustDomain string, roots func() *x509.CertPool) *CertAuthenticator {
	return &CertAuthenticator{trustDomain: trustDomain, roots: roots, now: time.Now}
}

// TrustingHandshake is a copy of a for a server whose tls.Config verifies
// client certificates against the same roots() (as certs.Issuer.ServingTLS
// does): a chain the handshake verified is not verified a second time,
// only checked for expiry since the connection may outlive it. Half the
// cost of authenticating a connect storm was that second verification.
func (a *CertAuthenticator) TrustingHandshake() *CertAuthenticator {
	c := *a
	c.handshake = true
	return &c
}

// Authenticate returns the identity of the TLS peer's certificate. The
// chain is verified here against roots() for client authentication, unless
// the handshake verified it and a trusts that (TrustingHandshake).
// clusterID is ignored.
func (a *CertAuthenticator) Authenticate(ctx context.Context, _ string) (certs.Identity, error) {
	chain, verified := peerCertificates(ctx)
	if len(chain) == 0 {
		return refuse(ReasonNoCredential, errors.New("no client certificate"))
	}
	if err := a.check(chain, verified); err != nil {
		return refuse(certReason(err), err)
	}
	id, err := a.identity(chain[0])
	if err != nil {
		return refuse(ReasonBadCertificate, err)
	}
	return id, nil
}

// peerCertificates is the chain the TLS peer of the call presented, leaf
// first, and whether the handshake verified it.
func peerCertificates(ctx context.Context) ([]*x509.Certificate, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, false
	}
	return info.State.PeerCertificates, len(info.State.VerifiedChains) > 0
}

// check verifies chain, or only its leaf's expiry when the handshake
// verified it and a trusts that.
func (a *CertAuthenticator) check(chain []*x509.Certificate, verified bool) error {
	if !a.handshake || !verified {
		return a.verify(chain)
	}
	if now := a.now(); now.After(chain[0].NotAfter) {
		return x509.CertificateInvalidError{Cert: chain[0], Reason: x509.Expired, Detail: "client certificate expired"}
	}
	return nil
}

func (a *CertAuthenticator) verify(chain []*x509.Certificate) error {
	roots := a.roots()
	if roots == nil {
		return errors.New("no mesh roots to verify the client certificate against")
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   a.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	return nil
}

func certReason(err error) string {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
		return ReasonExpired
	}
	return ReasonBadCertificate
}

// identity is the leaf's one URI SAN, a SPIFFE ID of the trust domain.
func (a *CertAuthenticator) identity(leaf *x509.Certificate) (certs.Identity, error) {
	if len(leaf.URIs) != 1 {
		return certs.Identity{}, fmt.Errorf("client certificate has %d URI SANs, want exactly one SPIFFE ID", len(leaf.URIs))
	}
	id, err := certs.ParseSPIFFEID(leaf.URIs[0].String())
	if err != nil {
		return certs.Identity{}, fmt.Errorf("client certificate: %w", err)
	}
	if id.TrustDomain != a.trustDomain {
		return certs.Identity{}, fmt.Errorf("client certificate's trust domain %q is not the mesh's %q", id.TrustDomain, a.trustDomain)
	}
	return id, nil
}
