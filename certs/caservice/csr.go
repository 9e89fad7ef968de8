package caservice

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/isthmus-mesh/isthmus/certs"
)

// Limits on a CSR. istio-agent's CSR is about 1 KiB with one SAN.
const (
	MaxCSRBytes = 64 << 10
	MaxSANs     = 8
)

// parseCSR decodes one PEM certificate request and checks its signature.
func parseCSR(text string) (*x509.CertificateRequest, *refusal) {
	if len(text) > MaxCSRBytes {
		return nil, invalid("bad_csr", fmt.Errorf("CSR of %d bytes, at most %d", len(text), MaxCSRBytes))
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, invalid("bad_csr", errors.New("CSR: no PEM block"))
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, invalid("bad_csr", fmt.Errorf("CSR: PEM block %q, want CERTIFICATE REQUEST", clip(block.Type)))
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, invalid("bad_csr", errors.New("CSR: more than one PEM block"))
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, invalid("bad_csr", fmt.Errorf("CSR: %w", err))
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, invalid("bad_csr", fmt.Errorf("CSR signature: %w", err))
	}
	return csr, nil
}

// checkSANs allows at most MaxSANs SANs, all URIs equal to id's SPIFFE ID.
func checkSANs(csr *x509.CertificateRequest, id certs.Identity) *refusal {
	others := len(csr.DNSNames) + len(csr.IPAddresses) + len(csr.EmailAddresses)
	if n := len(csr.URIs) + others; n > MaxSANs {
		return invalid("too_many_sans", fmt.Errorf("CSR has %d SANs, at most %d", n, MaxSANs))
	}
	if others > 0 {
		return denied("non_uri_san", fmt.Errorf("CSR asks for %d DNS, IP or email SANs; a workload certificate names only its SPIFFE ID %s", others, id))
	}
	want := id.SPIFFEID()
	for _, u := range csr.URIs {
		if got := u.String(); got != want {
			return denied("other_identity", fmt.Errorf("CSR asks for %q, but the caller proved %s", clip(got), want))
		}
	}
	return nil
}

// maxQuoted bounds caller-supplied strings in messages and logs.
const maxQuoted = 128

func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "…"
}
