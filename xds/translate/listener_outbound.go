package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	telemetry "istio.io/api/telemetry/v1alpha1"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// passthroughFilterChain names the chain that takes connections no other
// chain of an outbound listener matches.
const passthroughFilterChain = "PassthroughFilterChain"

// outboundListeners builds the listeners of the outbound plan.
func outboundListeners(idx *Index, p *model.Proxy, scope *Scope) []*listenerv3.Listener {
	policy := outboundPolicyOf(scope)
	tracing := idx.tracingFor(p.Namespace, p.Labels, scope, telemetry.WorkloadMode_CLIENT)
	var out []*listenerv3.Listener
	for _, e := range planOutbound(p, scope).entries {
		out = append(out, outboundListener(idx, p, e, policy, tracing))
	}
	return out
}

func outboundListener(idx *Index, p *model.Proxy, e *outboundEntry, policy outboundPolicy, tracing *hcmv3.HttpConnectionManager_Tracing) *listenerv3.Listener {
	l := &listenerv3.Listener{
		Name:                             e.Name(),
		Address:                          socketAddress(e.Address, e.Port),
		TrafficDirection:                 corev3.TrafficDirection_OUTBOUND,
		ContinueOnListenerFiltersTimeout: true,
		ListenerFiltersTimeout:           durationpb.New(0),
	}
	if !e.BindToPort {
		l.BindToPort = wrapperspb.Bool(false)
	}
	chains := outboundChains(idx, p, e, tracing)
	l.ListenerFilters = inspectorsFor(chains)
	placeChains(l, chains, policy)
	return l
}

// outboundChains gives the TCP chains of the listener's services, first
// match kept, then its HTTP chain. When both kinds share the listener the
// HTTP chain is chosen by the HTTP inspector.
func outboundChains(idx *Index, p *model.Proxy, e *outboundEntry, tracing *hcmv3.HttpConnectionManager_Tracing) []chainSpec {
	c := newRouteContext(idx, p, e.Port, nil)
	var chains []chainSpec
	for _, con := range e.TCP {
		chains = mergeChains(chains, c.tcpChains(con, e.Address))
	}
	if e.HTTP {
		http := chainSpec{filters: []*listenerv3.Filter{httpConnectionManager(hcmOptions{
			statPrefix: "outbound_" + e.Name(),
			rds:        e.RouteName,
			tracing:    tracing,
		})}}
		if e.Sniffed() {
			http.appProtocols, http.transport = plaintextHTTPProtocols, rawBufferTransport
		}
		chains = mergeChains(chains, []chainSpec{http})
	}
	return chains
}

// inspectorsFor adds the TLS inspector when a chain matches on SNI or
// protocols, and the HTTP inspector when one matches on HTTP.
func inspectorsFor(chains []chainSpec) []*listenerv3.ListenerFilter {
	needTLS, needHTTP := false, false
	for _, c := range chains {
		needTLS = needTLS || len(c.effectiveServerNames()) > 0 || len(c.appProtocols) > 0
		needHTTP = needHTTP || len(c.appProtocols) > 0
	}
	var out []*listenerv3.ListenerFilter
	if needTLS {
		out = append(out, tlsInspectorFilter())
	}
	if needHTTP {
		out = append(out, httpInspectorFilter())
	}
	return out
}

// placeChains sets the listener's chains. A chain without conditions becomes
// the default chain when others exist; without one, connections nothing
// matches follow the outbound traffic policy.
func placeChains(l *listenerv3.Listener, chains []chainSpec, policy outboundPolicy) {
	var fallback *listenerv3.FilterChain
	for _, c := range chains {
		if c.matchesAll() && fallback == nil {
			fallback = c.build()
			continue
		}
		l.FilterChains = append(l.FilterChains, c.build())
	}
	switch {
	case fallback != nil && len(l.FilterChains) == 0:
		l.FilterChains = []*listenerv3.FilterChain{fallback}
	case fallback != nil:
		l.DefaultFilterChain = fallback
	default:
		l.DefaultFilterChain = &listenerv3.FilterChain{
			Name:    passthroughFilterChain,
			Filters: []*listenerv3.Filter{tcpProxy(policy.Cluster, policy.Cluster)},
		}
	}
}
