package server

import (
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// SecretSource gives each proxy the SDS secrets its resources reference
// (its certificate and the trusted roots).
type SecretSource interface {
	// Secrets returns every secret p may reference and a key naming them:
	// proxies given the same key are given the same secrets, the very same
	// objects while they do not change.
	Secrets(p *model.Proxy) (key string, secrets []*tlsv3.Secret, err error)
}

// secretReferences lists the SDS secret names a cluster or listener
// references in its transport sockets, sorted and unique.
func secretReferences(r types.Resource) []string {
	var sockets []*corev3.TransportSocket
	switch v := r.(type) {
	case *clusterv3.Cluster:
		sockets = append(sockets, v.GetTransportSocket())
		for _, m := range v.GetTransportSocketMatches() {
			sockets = append(sockets, m.GetTransportSocket())
		}
	case *listenerv3.Listener:
		for _, c := range v.GetFilterChains() {
			sockets = append(sockets, c.GetTransportSocket())
		}
		sockets = append(sockets, v.GetDefaultFilterChain().GetTransportSocket())
	}
	var names []string
	for _, s := range sockets {
		names = append(names, socketSecrets(s)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// socketSecrets lists the secrets one TLS transport socket references.
func socketSecrets(s *corev3.TransportSocket) []string {
	cfg := s.GetTypedConfig()
	if cfg == nil {
		return nil
	}
	var common *tlsv3.CommonTlsContext
	switch cfg.GetTypeUrl() {
	case "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext":
		ctx := &tlsv3.UpstreamTlsContext{}
		if proto.Unmarshal(cfg.GetValue(), ctx) != nil {
			return nil
		}
		common = ctx.GetCommonTlsContext()
	case "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext":
		ctx := &tlsv3.DownstreamTlsContext{}
		if proto.Unmarshal(cfg.GetValue(), ctx) != nil {
			return nil
		}
		common = ctx.GetCommonTlsContext()
	default:
		return nil
	}
	var names []string
	for _, c := range common.GetTlsCertificateSdsSecretConfigs() {
		names = append(names, c.GetName())
	}
	if v := common.GetValidationContextSdsSecretConfig(); v != nil {
		names = append(names, v.GetName())
	}
	if v := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); v != nil {
		names = append(names, v.GetName())
	}
	return names
}
