package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// IssueServing issues the serving certificate of Isthmus's own TLS port:
// DNS SANs dnsNames (as istiod's istiod.istio-system.svc), for server
// authentication, valid for ttl (capped by the CA's expiry).
func (ca *CA) IssueServing(dnsNames []string, ttl time.Duration) (*Certificate, error) {
	if len(dnsNames) == 0 {
		return nil, errors.New("issue serving certificate: no DNS name")
	}
	now := time.Now()
	if !now.Before(ca.notAfter) {
		return nil, fmt.Errorf("issue serving certificate: CA expired at %s", ca.notAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		DNSNames:              dnsNames,
		NotBefore:             latest(now.Add(-ClockSkew), ca.cert.NotBefore).Truncate(time.Second).UTC(),
		NotAfter:              earliest(now.Add(ttl), ca.notAfter).Truncate(time.Second).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	cert, err := ca.issueKeyed(tmpl)
	if err != nil {
		return nil, fmt.Errorf("issue serving certificate: %w", err)
	}
	return cert, nil
}

// RootPool is the pool of the CA's trust bundle, for verifying the
// certificates it issued.
func (ca *CA) RootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.rootsPEM)
	return pool
}

// ServingTLS returns a TLS configuration for Isthmus's own TLS port that
// follows the Issuer's rotations: each handshake gets base with a serving
// certificate for dnsNames (IssueServing, valid for ttl) from ServingCA,
// issued again once that CA changes, and ClientCAs the current trust bundle
// (RootPool). The first certificate is issued here, so errors show at start.
func (i *Issuer) ServingTLS(base *tls.Config, dnsNames []string, ttl time.Duration) (*tls.Config, error) {
	s := &servingTLS{issuer: i, base: base.Clone(), dnsNames: dnsNames, ttl: ttl}
	if _, err := s.config(); err != nil {
		return nil, err
	}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return s.config() }
	return cfg, nil
}

type servingTLS struct {
	issuer   *Issuer
	base     *tls.Config
	dnsNames []string
	ttl      time.Duration

	mu   sync.Mutex
	ca   *CA
	pool *x509.CertPool
	cfg  *tls.Config
}

func (s *servingTLS) config() (*tls.Config, error) {
	ca, pool := s.issuer.ServingCA(), s.issuer.RootPool()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg != nil && s.ca == ca && s.pool == pool {
		return s.cfg, nil
	}
	cfg := s.base.Clone()
	if s.ca != ca || s.cfg == nil {
		serving, err := ca.IssueServing(s.dnsNames, s.ttl)
		if err != nil {
			return nil, err
		}
		pair, err := serving.TLSCertificate()
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	} else {
		cfg.Certificates = s.cfg.Certificates
	}
	cfg.ClientCAs = pool
	s.ca, s.pool, s.cfg = ca, pool, cfg
	return cfg, nil
}

// ServingCA is the CA Isthmus's own serving certificates come from, the
// one every client trusts: during a root rotation, the CA that signed
// before it until its roots leave ROOTCA (clients given the roots before
// the rotation have only those), then the signing CA. An old CA that
// expired meanwhile gives way to the signing CA at once.
func (i *Issuer) ServingCA() *CA {
	now := i.opts.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	if s := i.trust.serving; now.Before(s.NotAfter()) {
		return s
	}
	return i.trust.signing
}
