package translate

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/certs"
)

// Endpoint labels and metadata of Istio's automatic mTLS: an endpoint
// labelled tlsMode "istio" has a sidecar that accepts mTLS.
const (
	TLSModeLabel           = "security.istio.io/tlsMode"
	tlsModeIstio           = "istio"
	transportSocketMatch   = "envoy.transport_socket_match"
	tlsModeMetadataKey     = "tlsMode"
	rawBufferSocket        = "envoy.transport_sockets.raw_buffer"
	autoMTLSMatchName      = "tlsMode-istio"
	autoPlaintextMatchName = "tlsMode-disabled"
)

// ALPN values that mark a connection as mesh mTLS. Clients offer
// mtlsClientALPN; a permissive server takes a TLS connection offering any
// of mtlsServerALPN as mTLS and passes other TLS through.
var (
	mtlsClientALPN = []string{"istio-peer-exchange", "istio"}
	mtlsServerALPN = []string{"istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"}
)

// sdsSecret references a secret served over the ADS stream.
func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsConfigSource()}
}

// meshTLSContext presents the workload's certificate and checks the peer's
// against the mesh roots and, when any are given, the SAN matchers.
func meshTLSContext(sans []*tlsv3.SubjectAltNameMatcher, alpn []string) *tlsv3.CommonTlsContext {
	return &tlsv3.CommonTlsContext{
		TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsSecret(certs.WorkloadSecretName)},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans},
				ValidationContextSdsSecretConfig: sdsSecret(certs.RootSecretName),
			},
		},
		AlpnProtocols: alpn,
	}
}

// istioMutualSocket originates mesh mTLS to an upstream that must present
// one of sans (any mesh identity when sans is empty).
func istioMutualSocket(sni string, sans []string) *corev3.TransportSocket {
	matchers := make([]*tlsv3.SubjectAltNameMatcher, 0, len(sans))
	for _, san := range sans {
		matchers = append(matchers, sanMatcher(san))
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: meshTLSContext(matchers, mtlsClientALPN)}
	return &corev3.TransportSocket{
		Name:       TLSTransportSocket,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: clusterAny(ctx)},
	}
}

// inboundMTLSSocket terminates mesh mTLS: the client must present a
// certificate of the trust domain.
func inboundMTLSSocket(trustDomain string, http bool) *corev3.TransportSocket {
	domain := &tlsv3.SubjectAltNameMatcher{
		SanType: tlsv3.SubjectAltNameMatcher_URI,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{
			Prefix: fmt.Sprintf("spiffe://%s/", trustDomain),
		}},
	}
	var alpn []string
	if http {
		alpn = []string{"h2", "http/1.1"}
	}
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext:         meshTLSContext([]*tlsv3.SubjectAltNameMatcher{domain}, alpn),
		RequireClientCertificate: wrapperspb.Bool(true),
	}
	return &corev3.TransportSocket{
		Name:       TLSTransportSocket,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typedAny(ctx)},
	}
}

// autoMTLSMatches speak mTLS to endpoints with a sidecar (tlsMode "istio"
// metadata) and plaintext to the others, as Istio's automatic mTLS does.
func autoMTLSMatches(sni string, sans []string) []*clusterv3.Cluster_TransportSocketMatch {
	return []*clusterv3.Cluster_TransportSocketMatch{
		{Name: autoMTLSMatchName, Match: sidecarMatch, TransportSocket: istioMutualSocket(sni, sans)},
		{Name: autoPlaintextMatchName, Match: anyMatch, TransportSocket: plaintextSocket},
	}
}

// The immutable parts of automatic mTLS, one object each, shared by every
// cluster and endpoint that carries them (resources are never modified
// once built).
var (
	// sidecarMatch matches endpoints marked with tlsModeMetadata.
	sidecarMatch = mustStruct(map[string]any{tlsModeMetadataKey: tlsModeIstio})
	// anyMatch matches every endpoint.
	anyMatch        = &structpb.Struct{}
	plaintextSocket = &corev3.TransportSocket{
		Name:       rawBufferSocket,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: clusterAny(&rawbufferv3.RawBuffer{})},
	}
	// tlsModeMetadata marks an endpoint with a sidecar for autoMTLSMatches.
	tlsModeMetadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		transportSocketMatch: mustStruct(map[string]any{tlsModeMetadataKey: tlsModeIstio}),
	}}
)

// mustStruct is fields as a Struct; fields must be JSON values.
func mustStruct(fields map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(fields)
	if err != nil {
		panic(err)
	}
	return s
}

// spiffeID is the SPIFFE id of a service account.
func spiffeID(trustDomain, namespace, serviceAccount string) string {
	return certs.Identity{TrustDomain: trustDomain, Namespace: namespace, ServiceAccount: serviceAccount}.SPIFFEID()
}
