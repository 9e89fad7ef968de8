package certs

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// SDS secret names, as istio-proxy's bootstrap and Istio's generated
// transport sockets reference them.
const (
	WorkloadSecretName = "default" // the workload's certificate chain and key
	RootSecretName     = "ROOTCA"  // the trust bundle peers are validated against
)

// WorkloadSecret returns the "default" SDS secret for cert: a tls_certificate
// with the chain and key inline.
func WorkloadSecret(cert *Certificate) (*tlsv3.Secret, error) {
	s := &tlsv3.Secret{
		Name: WorkloadSecretName,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(cert.ChainPEM),
			PrivateKey:       inlineBytes(cert.KeyPEM),
		}},
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("secret %q for %s: %w", WorkloadSecretName, cert.ID, err)
	}
	return s, nil
}

// RootSecret returns the "ROOTCA" SDS secret: a validation_context trusting rootsPEM.
func RootSecret(rootsPEM []byte) (*tlsv3.Secret, error) {
	s := &tlsv3.Secret{
		Name: RootSecretName,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(rootsPEM),
		}},
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("secret %q: %w", RootSecretName, err)
	}
	return s, nil
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
