package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidCSR marks SignCSR's refusals of the request itself (a signature
// that does not verify, a key type or size the CA does not sign), as opposed
// to the CA's own failures.
var ErrInvalidCSR = errors.New("invalid certificate signing request")

// RSA key sizes SignCSR accepts.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// SignCSR signs a workload certificate for id over the public key of csr,
// exactly as Issue shapes one (the SPIFFE ID as the only SAN, an empty
// Subject, ttl capped at the CA's own expiry). Nothing else of the CSR is
// used: its Subject, SANs and extensions are ignored, so whether the
// requester may have id is the caller's decision. The CSR's signature must
// verify and its key must be ECDSA P-256, P-384 or P-521, RSA of 2048 to
// 8192 bits, or Ed25519; otherwise the error wraps ErrInvalidCSR. The
// Certificate has no KeyPEM: the key stays with the requester.
func (ca *CA) SignCSR(csr *x509.CertificateRequest, id Identity, ttl time.Duration) (*Certificate, error) {
	return ca.signCSR(csr, id, ttl, time.Now())
}

func (ca *CA) signCSR(csr *x509.CertificateRequest, id Identity, ttl time.Duration, now time.Time) (*Certificate, error) {
	if err := checkCSR(csr); err != nil {
		return nil, fmt.Errorf("sign CSR for %s: %w: %w", id, ErrInvalidCSR, err)
	}
	tmpl, err := ca.leafTemplate(id, ttl, now)
	if err != nil {
		return nil, fmt.Errorf("sign CSR for %s: %w", id, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("sign CSR for %s: %w", id, err)
	}
	chain := append(encodeDER(der), ca.chainPEM...)
	return &Certificate{ChainPEM: chain, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, ID: id}, nil
}

func checkCSR(csr *x509.CertificateRequest) error {
	if csr == nil {
		return errors.New("no CSR")
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return checkPublicKey(csr.PublicKey)
}

func checkPublicKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA curve %s not accepted (P-256, P-384, P-521)", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("RSA key of %d bits not accepted (%d to %d)", bits, minRSABits, maxRSABits)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("public key of type %T not accepted", pub)
}
