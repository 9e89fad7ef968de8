package server

import (
	"fmt"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// DefaultServiceAccount is the identity of a proxy that names no service
// account, as in Kubernetes.
const DefaultServiceAccount = "default"

// IssuerSecrets serves each proxy the certificate of its identity,
// spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT from its node
// metadata, and the mesh roots, from issuer.
//
// The identity is the one the proxy claims: nothing yet proves that a
// proxy runs as the service account it names.
func IssuerSecrets(issuer *certs.Issuer, trustDomain string) SecretSource {
	return issuerSecrets{issuer: issuer, trustDomain: trustDomain}
}

type issuerSecrets struct {
	issuer      *certs.Issuer
	trustDomain string
}

func (s issuerSecrets) Secrets(p *model.Proxy) (string, []*tlsv3.Secret, error) {
	id := s.identityOf(p)
	workload, root, err := s.issuer.Secrets(id)
	if err != nil {
		return "", nil, fmt.Errorf("certificate for %s: %w", id, err)
	}
	return fmt.Sprintf("%s@%p", id, workload), []*tlsv3.Secret{workload, root}, nil
}

// Retain keeps the certificates of the identities of proxies only.
func (s issuerSecrets) Retain(proxies []*model.Proxy) {
	inUse := make(map[certs.Identity]bool, len(proxies))
	for _, p := range proxies {
		inUse[s.identityOf(p)] = true
	}
	s.issuer.Retain(inUse)
}

func (s issuerSecrets) identityOf(p *model.Proxy) certs.Identity {
	sa := p.ServiceAccount
	if sa == "" {
		sa = DefaultServiceAccount
	}
	return certs.Identity{TrustDomain: s.trustDomain, Namespace: p.Namespace, ServiceAccount: sa}
}
