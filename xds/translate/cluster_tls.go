package translate

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// TLSTransportSocket is the name of Envoy's TLS transport socket.
const TLSTransportSocket = "envoy.transport_sockets.tls"

// SystemCABundle is the operating system's CA bundle in the istio-proxy
// image (Debian layout), used when a rule names no CA of its own.
const SystemCABundle = "/etc/ssl/certs/ca-certificates.crt"

// applyClientTLS sets how an outbound cluster secures connections to its
// endpoints. SIMPLE and MUTUAL originate TLS with certificates from files
// named in the rule; ISTIO_MUTUAL originates mesh mTLS with the workload's
// SDS certificate; DISABLE leaves plaintext; without a TLS setting, mesh
// services get automatic mTLS (see applyAutoMTLS).
//
// Not yet: credentialName (needs secrets from Kubernetes), automatic SNI
// from the request's host.
func applyClientTLS(d *clusterDraft, tls *networking.ClientTLSSettings, mesh meshPeer) {
	switch {
	case tls == nil:
		applyAutoMTLS(d, mesh)
	case tls.GetMode() == networking.ClientTLSSettings_ISTIO_MUTUAL:
		d.cluster.TransportSocket = istioMutualSocket(istioMutualSNI(tls, mesh), istioMutualSANs(tls, mesh))
	case tls.GetMode() == networking.ClientTLSSettings_SIMPLE, tls.GetMode() == networking.ClientTLSSettings_MUTUAL:
		applyFileTLS(d, tls)
	}
}

// applyFileTLS originates TLS with the files a SIMPLE or MUTUAL rule names.
func applyFileTLS(d *clusterDraft, tls *networking.ClientTLSSettings) {
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

// meshPeer is what a client needs to know to speak mesh mTLS to a cluster's
// endpoints.
type meshPeer struct {
	auto      bool     // automatic mTLS applies (see Index.meshPeer)
	sni       string   // Istio's SNI for the cluster
	sans      []string // identities the endpoints may present
	endpoints []*discovery.Endpoint
}

// applyAutoMTLS speaks mTLS to those endpoints that have a sidecar, when
// any does, and plaintext to the others.
func applyAutoMTLS(d *clusterDraft, mesh meshPeer) {
	if !mesh.auto || !slices.ContainsFunc(mesh.endpoints, hasSidecar) {
		return
	}
	d.cluster.TransportSocketMatches = autoMTLSMatches(mesh.sni, mesh.sans)
}

// hasSidecar reports whether an endpoint's workload accepts mesh mTLS.
func hasSidecar(ep *discovery.Endpoint) bool { return ep.Labels[TLSModeLabel] == tlsModeIstio }

func istioMutualSNI(tls *networking.ClientTLSSettings, mesh meshPeer) string {
	if tls.GetSni() != "" {
		return tls.GetSni()
	}
	return mesh.sni
}

func istioMutualSANs(tls *networking.ClientTLSSettings, mesh meshPeer) []string {
	if len(tls.GetSubjectAltNames()) > 0 {
		return tls.GetSubjectAltNames()
	}
	return mesh.sans
}
