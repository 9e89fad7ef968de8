package caservice

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/isthmus-mesh/isthmus/certs"
)

// responseChain is cert_chain as istio-agent expects it: one PEM
// certificate per element, the leaf and the CA's intermediates of
// chainPEM, then last every root of rootsPEM in one element (istio-agent
// trusts that element alone), the root the chain ends at first.
func responseChain(chainPEM, rootsPEM []byte) ([]string, error) {
	chain, err := parseCertificates(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("signed chain: %w", err)
	}
	roots, err := parseCertificates(rootsPEM)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	root := issuerIn(chain[len(chain)-1], roots)
	if root == nil {
		return nil, errors.New("the signed chain ends at no root of the CA's trust bundle")
	}
	out := make([]string, 0, len(chain)+1)
	for _, c := range chain {
		out = append(out, string(certs.EncodeCertificates(c)))
	}
	return append(out, string(certs.EncodeCertificates(rootsFirst(root, roots)...))), nil
}

// rootsFirst is roots with root moved to the front.
func rootsFirst(root *x509.Certificate, roots []*x509.Certificate) []*x509.Certificate {
	out := []*x509.Certificate{root}
	for _, r := range roots {
		if !r.Equal(root) {
			out = append(out, r)
		}
	}
	return out
}

// issuerIn is the certificate of candidates that signed c.
func issuerIn(c *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, r := range candidates {
		if bytes.Equal(c.RawIssuer, r.RawSubject) && c.CheckSignatureFrom(r) == nil {
			return r
		}
	}
	return nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	out, err := certs.DecodeCertificates(data)
	if err == nil && len(out) == 0 {
		err = errors.New("no certificate")
	}
	return out, err
}
