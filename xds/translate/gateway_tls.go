package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/certs"
)

// ALPN a gateway offers when it terminates TLS: HTTP/2 and HTTP/1.1, with
// Istio's peer-exchange protocol first on ISTIO_MUTUAL TCP servers.
var (
	gatewayHTTPALPN      = []string{"h2", "http/1.1"}
	gatewayMeshTCPALPN   = []string{"istio-peer-exchange", "h2", "http/1.1"}
	gatewayVerifyClients = map[networking.ServerTLSSettings_TLSmode]bool{
		networking.ServerTLSSettings_MUTUAL:          true,
		networking.ServerTLSSettings_OPTIONAL_MUTUAL: true,
		networking.ServerTLSSettings_ISTIO_MUTUAL:    true,
	}
)

// gatewayTLSSocket terminates a server's TLS (nil for passthrough servers
// and servers without TLS). Certificates come from, in order: the mesh
// (ISTIO_MUTUAL: the workload's "default" and "ROOTCA" secrets), the
// credentialName(s) over SDS ("kubernetes://NAME", CA in
// "kubernetes://NAME-cacert"), or files named in the server.
func gatewayTLSSocket(gs *gatewayServer) *corev3.TransportSocket {
	tls := gs.spec.GetTls()
	if tls == nil || isPassthrough(gs.spec) {
		return nil
	}
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         &tlsv3.CommonTlsContext{AlpnProtocols: gatewayALPN(gs)},
		RequireClientCertificate: wrapperspb.Bool(requiresClientCertificate(tls.GetMode())),
	}
	switch {
	case tls.GetMode() == networking.ServerTLSSettings_ISTIO_MUTUAL:
		applyMeshServerTLS(ctx.CommonTlsContext, tls)
	case tls.GetCredentialName() != "" || len(tls.GetCredentialNames()) > 0:
		applyCredentialServerTLS(ctx.CommonTlsContext, tls)
	default:
		applyFileServerTLS(ctx.CommonTlsContext, tls)
	}
	if tls.GetMode() != networking.ServerTLSSettings_ISTIO_MUTUAL {
		applyServerTLSParams(ctx.CommonTlsContext, tls)
	}
	return &corev3.TransportSocket{
		Name:       TLSTransportSocket,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typedAny(ctx)},
	}
}

func gatewayALPN(gs *gatewayServer) []string {
	if !terminatesHTTPS(gs) && gs.spec.GetTls().GetMode() == networking.ServerTLSSettings_ISTIO_MUTUAL {
		return gatewayMeshTCPALPN
	}
	return gatewayHTTPALPN
}

func requiresClientCertificate(mode networking.ServerTLSSettings_TLSmode) bool {
	return mode == networking.ServerTLSSettings_MUTUAL || mode == networking.ServerTLSSettings_ISTIO_MUTUAL
}

// applyMeshServerTLS presents the workload certificate and checks clients
// against the mesh roots (and the server's subjectAltNames, if any).
func applyMeshServerTLS(ctx *tlsv3.CommonTlsContext, tls *networking.ServerTLSSettings) {
	ctx.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsSecret(certs.WorkloadSecretName)}
	ctx.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
		CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(tls.GetSubjectAltNames())},
			ValidationContextSdsSecretConfig: sdsSecret(certs.RootSecretName),
		},
	}
}

// applyCredentialServerTLS takes the key pairs from the credentials' SDS
// secrets and, when clients are verified, the CA of the first one.
func applyCredentialServerTLS(ctx *tlsv3.CommonTlsContext, tls *networking.ServerTLSSettings) {
	names := tls.GetCredentialNames()
	if len(names) == 0 {
		names = []string{tls.GetCredentialName()}
	}
	for _, n := range names {
		ctx.TlsCertificateSdsSecretConfigs = append(ctx.TlsCertificateSdsSecretConfigs, credentialSecret(credentialSecretName(n)))
	}
	if !gatewayVerifyClients[tls.GetMode()] {
		return
	}
	ctx.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
		CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         clientValidation(tls),
			ValidationContextSdsSecretConfig: credentialSecret(credentialCASecretName(names[0])),
		},
	}
}

// credentialSecret fetches a Gateway credential over ADS. Unlike the mesh
// secrets it keeps Envoy's initial fetch timeout, as Istio does, so a
// missing Kubernetes secret does not hold the listener back forever.
func credentialSecret(name string) *tlsv3.SdsSecretConfig {
	if name == certs.WorkloadSecretName || name == certs.RootSecretName {
		return sdsSecret(name)
	}
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}}
}

// applyFileServerTLS reads the key pairs and CA from the files the server
// names.
func applyFileServerTLS(ctx *tlsv3.CommonTlsContext, tls *networking.ServerTLSSettings) {
	pairs := tls.GetTlsCertificates()
	if len(pairs) == 0 {
		pairs = []*networking.ServerTLSSettings_TLSCertificate{{
			ServerCertificate: tls.GetServerCertificate(), PrivateKey: tls.GetPrivateKey(), CaCertificates: tls.GetCaCertificates(),
		}}
	}
	for _, pair := range pairs {
		ctx.TlsCertificates = append(ctx.TlsCertificates, &tlsv3.TlsCertificate{
			CertificateChain: fileSource(pair.GetServerCertificate()),
			PrivateKey:       fileSource(pair.GetPrivateKey()),
		})
	}
	ca := tls.GetCaCertificates()
	if ca == "" {
		ca = pairs[0].GetCaCertificates()
	}
	if !gatewayVerifyClients[tls.GetMode()] || ca == "" {
		return
	}
	validation := clientValidation(tls)
	validation.TrustedCa = fileSource(ca)
	if crl := tls.GetCaCrl(); crl != "" {
		validation.Crl = fileSource(crl)
	}
	ctx.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: validation}
}

// clientValidation is what client certificates must carry besides a
// trusted signature.
func clientValidation(tls *networking.ServerTLSSettings) *tlsv3.CertificateValidationContext {
	return &tlsv3.CertificateValidationContext{
		MatchTypedSubjectAltNames: sanMatchers(tls.GetSubjectAltNames()),
		VerifyCertificateSpki:     tls.GetVerifyCertificateSpki(),
		VerifyCertificateHash:     tls.GetVerifyCertificateHash(),
	}
}

func sanMatchers(sans []string) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, san := range sans {
		out = append(out, sanMatcher(san))
	}
	return out
}

// applyServerTLSParams sets the TLS versions and cipher suites a SIMPLE or
// MUTUAL server asks for; Envoy's defaults otherwise.
func applyServerTLSParams(ctx *tlsv3.CommonTlsContext, tls *networking.ServerTLSSettings) {
	minV, maxV := tls.GetMinProtocolVersion(), tls.GetMaxProtocolVersion()
	if minV == networking.ServerTLSSettings_TLS_AUTO && maxV == networking.ServerTLSSettings_TLS_AUTO && len(tls.GetCipherSuites()) == 0 {
		return
	}
	ctx.TlsParams = &tlsv3.TlsParameters{
		TlsMinimumProtocolVersion: envoyTLSVersion(minV),
		TlsMaximumProtocolVersion: envoyTLSVersion(maxV),
		CipherSuites:              tls.GetCipherSuites(),
	}
}

// envoyTLSVersion maps Istio's TLS versions to Envoy's (the same order).
func envoyTLSVersion(v networking.ServerTLSSettings_TLSProtocol) tlsv3.TlsParameters_TlsProtocol {
	out := tlsv3.TlsParameters_TlsProtocol(v)
	if out > tlsv3.TlsParameters_TLSv1_3 {
		return tlsv3.TlsParameters_TLS_AUTO
	}
	return out
}
