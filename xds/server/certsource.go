package server

import (
	"fmt"
	"sync/atomic"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// DefaultServiceAccount is the identity of a proxy that names no service
// account, as in Kubernetes.
const DefaultServiceAccount = "default"

// IssuerSecrets serves each proxy the certificate of its identity,
// spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT from its node
// metadata, and the mesh roots, from issuer; gateways also get the
// credentials of their namespace (see SetCredentials).
//
// The identity is the one the proxy claims; the server serves its private
// key only to a proxy that proved that very identity on the secure port
// (see ServeTLS), or with Options.InsecureIdentities.
func IssuerSecrets(issuer *certs.Issuer, trustDomain string) *CertSecrets {
	return &CertSecrets{issuer: issuer, trustDomain: trustDomain}
}

// CertSecrets is the SecretSource of IssuerSecrets.
type CertSecrets struct {
	issuer      *certs.Issuer
	trustDomain string
	credentials atomic.Pointer[certs.Credentials]
}

// SetCredentials replaces the credentials gateways reference by
// credentialName; call Server.Resync afterwards to serve them.
func (s *CertSecrets) SetCredentials(c *certs.Credentials) { s.credentials.Store(c) }

// Secrets returns p's identity secrets and, for a gateway, the credentials
// of its namespace.
func (s *CertSecrets) Secrets(p *model.Proxy) (string, []*tlsv3.Secret, error) {
	id := s.identityOf(p)
	workload, root, err := s.issuer.Secrets(id)
	if err != nil {
		return "", nil, fmt.Errorf("certificate for %s: %w", id, err)
	}
	secrets := []*tlsv3.Secret{workload, root}
	if p.Type != model.RouterProxy {
		return fmt.Sprintf("%s@%p/%p", id, workload, root), secrets, nil
	}
	creds := s.credentials.Load()
	return fmt.Sprintf("%s@%p/%p+%p", id, workload, root, creds), append(secrets, creds.Namespace(p.Namespace)...), nil
}

// Retain keeps the certificates of the identities of proxies only.
func (s *CertSecrets) Retain(proxies []*model.Proxy) {
	inUse := make(map[certs.Identity]bool, len(proxies))
	for _, p := range proxies {
		inUse[s.identityOf(p)] = true
	}
	s.issuer.Retain(inUse)
}

func (s *CertSecrets) identityOf(p *model.Proxy) certs.Identity {
	sa := p.ServiceAccount
	if sa == "" {
		sa = DefaultServiceAccount
	}
	return certs.Identity{TrustDomain: s.trustDomain, Namespace: p.Namespace, ServiceAccount: sa}
}
