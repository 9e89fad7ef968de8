package translate

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// TLSTransportSocket is the name of Envoy's TLS transport socket.
const TLSTransportSocket = "envoy.transport_sockets.tls"

// SystemCABundle is the operating system's CA bundle in the istio-proxy
// image (Debian layout), used when a rule names no CA of its own.
const SystemCABundle = "/etc/ssl/certs/ca-certificates.crt"

// applyClientTLS originates TLS to the endpoints for SIMPLE and MUTUAL modes,
// reading certificates from files named in the rule. DISABLE and unset leave
// plaintext.
//
// Not yet: ISTIO_MUTUAL (needs the mesh identity and SDS, left plaintext for
// now), credentialName (needs SDS), automatic SNI from the request's host.
func applyClientTLS(d *clusterDraft, tls *networking.ClientTLSSettings) {
	switch tls.GetMode() {
	case networking.ClientTLSSettings_SIMPLE, networking.ClientTLSSettings_MUTUAL:
	default:
		return
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: tls.GetSni(), CommonTlsContext: &tlsv3.CommonTlsContext{}}
	if d.isHTTP2() {
		ctx.CommonTlsContext.AlpnProtocols = []string{"h2"}
	}
	if tls.GetMode() == networking.ClientTLSSettings_MUTUAL && tls.GetClientCertificate() != "" {
		ctx.CommonTlsContext.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(tls.GetClientCertificate()),
			PrivateKey:       fileSource(tls.GetPrivateKey()),
		}}
	}
	if !tls.GetInsecureSkipVerify().GetValue() {
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: serverValidation(tls),
		}
	}
	d.cluster.TransportSocket = &corev3.TransportSocket{
		Name:       TLSTransportSocket,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: clusterAny(ctx)},
	}
}

// serverValidation checks the server certificate against the rule's CA file
// (the system bundle when none is named), CRL and subject alternative names.
func serverValidation(tls *networking.ClientTLSSettings) *tlsv3.CertificateValidationContext {
	ca := tls.GetCaCertificates()
	if ca == "" || ca == "system" {
		ca = SystemCABundle
	}
	v := &tlsv3.CertificateValidationContext{TrustedCa: fileSource(ca)}
	if crl := tls.GetCaCrl(); crl != "" {
		v.Crl = fileSource(crl)
	}
	for _, san := range tls.GetSubjectAltNames() {
		v.MatchTypedSubjectAltNames = append(v.MatchTypedSubjectAltNames, sanMatcher(san))
	}
	return v
}

// sanMatcher matches a SPIFFE id as a URI SAN and anything else as a DNS SAN.
func sanMatcher(san string) *tlsv3.SubjectAltNameMatcher {
	kind := tlsv3.SubjectAltNameMatcher_DNS
	if strings.HasPrefix(san, "spiffe://") {
		kind = tlsv3.SubjectAltNameMatcher_URI
	}
	return &tlsv3.SubjectAltNameMatcher{
		SanType: kind,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}},
	}
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}
