package bootstrap

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// DefaultXDSServerName is the name Envoy expects in the certificate of
// Isthmus's secure port, the first of its default DNS names.
const DefaultXDSServerName = "isthmus.istio-system.svc"

// xdsTransportSocket is the TLS of the xds-grpc cluster; nil without t.
func xdsTransportSocket(t *XDSTLS) (*corev3.TransportSocket, error) {
	if t == nil {
		return nil, nil
	}
	if t.RootCert == "" {
		return nil, &OptionError{Option: "TLS", Err: fmt.Errorf("the secure port needs the mesh roots (a root certificate file)")}
	}
	name := t.ServerName
	if name == "" {
		name = DefaultXDSServerName
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: name, CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: fileSource(t.RootCert),
			MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_DNS,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: name}},
			}},
		}},
	}}
	if t.CertChain != "" {
		ctx.CommonTlsContext.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(t.CertChain),
			PrivateKey:       fileSource(t.PrivateKey),
		}}
	}
	typed, err := anypb.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("xds-grpc TLS: %w", err)
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed}}, nil
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}
