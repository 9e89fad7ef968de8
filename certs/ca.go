package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"time"
)

const (
	// DefaultWorkloadTTL is the lifetime of a workload certificate, as Istio's default.
	DefaultWorkloadTTL = 24 * time.Hour
	// DefaultRootTTL is the lifetime of a generated self-signed root, as istiod's (10 years).
	DefaultRootTTL = 10 * 365 * 24 * time.Hour
	// ClockSkew is how far back a certificate's NotBefore is set, so peers whose
	// clocks run a little behind accept it at once (Istio uses 2 minutes too).
	ClockSkew = 2 * time.Minute
)

// CA signs workload certificates for one trust domain. It is immutable and
// safe for concurrent use.
type CA struct {
	trustDomain string
	cert        *x509.Certificate
	signer      crypto.Signer
	chainPEM    []byte    // appended after the leaf: the CA cert and its intermediates, no self-signed root
	rootsPEM    []byte    // the trust bundle
	notAfter    time.Time // earliest expiry along the CA's chain to its root
}

// Certificate is an issued workload certificate.
type Certificate struct {
	ChainPEM  []byte // leaf first, then the CA's intermediates (never the root)
	KeyPEM    []byte // PKCS#8 "PRIVATE KEY", ECDSA P-256; nil from SignCSR (the requester keeps its key)
	NotBefore time.Time
	NotAfter  time.Time
	ID        Identity
}

// TLSCertificate returns the certificate and key for crypto/tls.
func (c *Certificate) TLSCertificate() (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(c.ChainPEM, c.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate for %s: %w", c.ID, err)
	}
	return pair, nil
}

// NewSelfSignedCA generates a root CA like istiod's self-signed one
// (Subject O=trustDomain), with an ECDSA P-256 key, valid for ttl.
func NewSelfSignedCA(trustDomain string, ttl time.Duration) (*CA, error) {
	if err := validateTrustDomain(trustDomain); err != nil {
		return nil, fmt.Errorf("self-signed CA: %w", err)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("self-signed CA: ttl %v is not positive", ttl)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("self-signed CA: generate key: %w", err)
	}
	cert, err := selfSign(trustDomain, key, time.Now(), ttl)
	if err != nil {
		return nil, fmt.Errorf("self-signed CA: %w", err)
	}
	return newCA(trustDomain, cert, key, nil, encodeCerts(cert)), nil
}

func selfSign(trustDomain string, key crypto.Signer, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{trustDomain}},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              now.Add(ttl),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign root: %w", err)
	}
	return x509.ParseCertificate(der)
}

// newCA assembles a CA; intermediates are the certificates between cert and
// its root (not cert itself, no self-signed root).
func newCA(trustDomain string, cert *x509.Certificate, signer crypto.Signer, intermediates []*x509.Certificate, rootsPEM []byte) *CA {
	ca := &CA{trustDomain: trustDomain, cert: cert, signer: signer, rootsPEM: rootsPEM, notAfter: cert.NotAfter}
	if !isSelfSigned(cert) {
		ca.chainPEM = encodeCerts(append([]*x509.Certificate{cert}, intermediates...)...)
	}
	for _, c := range intermediates {
		ca.notAfter = earliest(ca.notAfter, c.NotAfter)
	}
	return ca
}

// TrustDomain is the trust domain this CA issues identities in.
func (ca *CA) TrustDomain() string { return ca.trustDomain }

// RootsPEM is the trust bundle to give proxies (root-cert.pem). Do not modify it.
func (ca *CA) RootsPEM() []byte { return ca.rootsPEM }

// NotAfter is when the CA stops being able to issue: the earliest expiry of
// its certificate and its intermediates.
func (ca *CA) NotAfter() time.Time { return ca.notAfter }

// Issue signs a new certificate for id, valid for ttl (capped at the CA's own
// expiry), with a fresh ECDSA P-256 key. The identity must be valid and in the
// CA's trust domain.
func (ca *CA) Issue(id Identity, ttl time.Duration) (*Certificate, error) {
	return ca.issue(id, ttl, time.Now())
}

func (ca *CA) issue(id Identity, ttl time.Duration, now time.Time) (*Certificate, error) {
	tmpl, err := ca.leafTemplate(id, ttl, now)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	cert, err := ca.issueKeyed(tmpl)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	cert.ID = id
	return cert, nil
}

// issueKeyed signs tmpl over a fresh ECDSA P-256 key, the chain followed
// by the CA's intermediates.
func (ca *CA) issueKeyed(tmpl *x509.Certificate) (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.signer)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	chain := append(encodeDER(der), ca.chainPEM...)
	return &Certificate{ChainPEM: chain, KeyPEM: keyPEM, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter}, nil
}

func (ca *CA) leafTemplate(id Identity, ttl time.Duration, now time.Time) (*x509.Certificate, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	if id.TrustDomain != ca.trustDomain {
		return nil, fmt.Errorf("trust domain %q is not the CA's %q", id.TrustDomain, ca.trustDomain)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("ttl %v is not positive", ttl)
	}
	if !now.Before(ca.notAfter) {
		return nil, fmt.Errorf("CA expired at %s", ca.notAfter.UTC().Format(time.RFC3339))
	}
	uri, err := url.Parse(id.SPIFFEID())
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		// Subject stays empty, as Istio's: the identity is the URI SAN alone
		// (Go then marks the SAN extension critical, as RFC 5280 requires).
		URIs: []*url.URL{uri},
		// Certificates hold whole seconds; truncating keeps Certificate's times exact.
		NotBefore:             latest(now.Add(-ClockSkew), ca.cert.NotBefore).Truncate(time.Second).UTC(),
		NotAfter:              earliest(now.Add(ttl), ca.notAfter).Truncate(time.Second).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
