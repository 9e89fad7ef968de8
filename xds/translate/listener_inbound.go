package translate

import (
	"slices"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate/rbac"
)

// Names of the inbound passthrough chain and of inbound virtual hosts.
const (
	virtualInboundPassthroughChain = "virtualInbound"
	virtualInboundMTLSChain        = "virtualInbound-mtls"
	inboundVirtualHostPrefix       = "inbound|http|"
)

// inboundPort is one port the proxy accepts traffic for its workload on,
// delivered to cluster "inbound|PORT||".
type inboundPort struct {
	Port     uint32
	Protocol discovery.Protocol
	// Bind and BindToPort place the port on a listener of its own (capture
	// NONE); otherwise it is a filter chain of virtualInbound.
	Bind       string
	BindToPort bool
}

// inboundPorts lists the inbound ports of p: the Sidecar's ingress
// listeners, or else the ports of the services whose endpoints are p's
// addresses (none under capture NONE, where nothing would reach them). The
// ports are those of the targets the inbound clusters are built for (see
// inboundTargets).
func inboundPorts(p *model.Proxy, scope *Scope, targets []inboundTarget) []inboundPort {
	sc := sidecarOf(scope)
	if p.Type == model.RouterProxy {
		return nil
	}
	var out []inboundPort
	for _, t := range targets {
		ip := inboundPort{Port: t.port, Protocol: t.protocol, Bind: wildcardAddress}
		if in := ingressFor(sc, t.port); in != nil {
			applyIngressBinding(&ip, p, in)
		}
		if canBindToPort(p, ip.BindToPort, ip.Port) {
			out = append(out, ip)
		}
	}
	return out
}

func ingressFor(sc *networking.Sidecar, port uint32) *networking.IstioIngressListener {
	for _, in := range sc.GetIngress() {
		if in.GetPort().GetNumber() == port {
			return in
		}
	}
	return nil
}

// applyIngressBinding binds an ingress listener for real when its capture
// mode (or, by default, the proxy's) is NONE.
func applyIngressBinding(ip *inboundPort, p *model.Proxy, in *networking.IstioIngressListener) {
	switch in.GetCaptureMode() {
	case networking.CaptureMode_DEFAULT:
		ip.BindToPort = proxyCaptureNone(p)
	default:
		ip.BindToPort = in.GetCaptureMode() == networking.CaptureMode_NONE
	}
	if in.GetBind() != "" {
		ip.Bind = in.GetBind()
	}
}

// inboundListeners builds virtualInbound (unless capture is NONE) with
// chains per captured port, and a listener per port bound for real. Each
// port's chains accept what the PeerAuthentications that apply to the
// workload allow (see inboundChains).
func inboundListeners(idx *Index, p *model.Proxy, scope *Scope, targets []inboundTarget, authz inboundAuthz) []*listenerv3.Listener {
	peer := idx.peerMTLS(p.Namespace, p.Labels)
	var out []*listenerv3.Listener
	var captured []*listenerv3.FilterChain
	for _, ip := range inboundPorts(p, scope, targets) {
		chains := inboundChains(ip, peer.ForPort(ip.Port), idx.TrustDomain(), authz)
		if ip.BindToPort {
			out = append(out, boundInboundListener(ip, chains))
			continue
		}
		for _, c := range chains {
			c.FilterChainMatch.DestinationPort = wrapperspb.UInt32(ip.Port)
		}
		captured = append(captured, chains...)
	}
	if !proxyCaptureNone(p) && p.Type != model.RouterProxy {
		out = append(out, virtualInboundListener(p, captured, passthroughChains(peer.Mode, idx.TrustDomain(), authz)))
	}
	return out
}

// virtualInboundListener receives redirected inbound connections on 15006
// and picks a chain by original destination port; other ports pass through
// to the workload unchanged, over the passthrough chains.
func virtualInboundListener(p *model.Proxy, chains, passthrough []*listenerv3.FilterChain) *listenerv3.Listener {
	all := []*listenerv3.FilterChain{blackholeChain(virtualInboundBlackholeChain, InboundCapturePort)}
	all = append(all, chains...)
	all = append(all, passthrough...)
	return &listenerv3.Listener{
		Name:                             VirtualInboundListener,
		Address:                          socketAddress(wildcardAddress, InboundCapturePort),
		Transparent:                      transparentFor(p),
		ListenerFilters:                  inboundListenerFilters(true, all),
		TrafficDirection:                 corev3.TrafficDirection_INBOUND,
		ContinueOnListenerFiltersTimeout: true,
		FilterChains:                     all,
	}
}

func boundInboundListener(ip inboundPort, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:                             ListenerName(ip.Bind, ip.Port),
		Address:                          socketAddress(ip.Bind, ip.Port),
		ListenerFilters:                  inboundListenerFilters(false, chains),
		TrafficDirection:                 corev3.TrafficDirection_INBOUND,
		ContinueOnListenerFiltersTimeout: true,
		FilterChains:                     chains,
	}
}

// inboundListenerFilters restores the original destination of redirected
// connections and, when a chain tells TLS from plaintext, inspects TLS.
func inboundListenerFilters(redirected bool, chains []*listenerv3.FilterChain) []*listenerv3.ListenerFilter {
	var out []*listenerv3.ListenerFilter
	if redirected {
		out = append(out, originalDstFilter())
	}
	if slices.ContainsFunc(chains, func(c *listenerv3.FilterChain) bool {
		return c.GetFilterChainMatch().GetTransportProtocol() != ""
	}) {
		out = append(out, tlsInspectorFilter())
	}
	return out
}

// inboundChains are the chains of one inbound port under an mTLS mode:
//   - STRICT: mTLS only; a plaintext connection matches no chain and is
//     closed.
//   - PERMISSIVE: mTLS for TLS connections offering the mesh's ALPN,
//     plaintext otherwise; a TCP port also passes other TLS through.
//   - DISABLE: plaintext only.
//
// Every chain has a (possibly empty) match, to which the caller may add the
// destination port.
func inboundChains(ip inboundPort, mode policy.MTLSMode, trustDomain string, authz inboundAuthz) []*listenerv3.FilterChain {
	chain := func(socket *corev3.TransportSocket, m *listenerv3.FilterChainMatch) *listenerv3.FilterChain {
		return inboundChain(ip, socket, m, authz)
	}
	mtls := inboundMTLSSocket(trustDomain, ip.Protocol.IsHTTP())
	switch mode {
	case policy.MTLSDisable:
		return []*listenerv3.FilterChain{chain(nil, &listenerv3.FilterChainMatch{})}
	case policy.MTLSStrict:
		return []*listenerv3.FilterChain{chain(mtls, &listenerv3.FilterChainMatch{TransportProtocol: tlsTransport})}
	}
	chains := []*listenerv3.FilterChain{chain(mtls, meshALPNMatch())}
	if !ip.Protocol.IsHTTP() {
		chains = append(chains, chain(nil, &listenerv3.FilterChainMatch{TransportProtocol: tlsTransport}))
	}
	return append(chains, chain(nil, &listenerv3.FilterChainMatch{}))
}

// meshALPNMatch matches TLS connections that offer the mesh's ALPN.
func meshALPNMatch() *listenerv3.FilterChainMatch {
	return &listenerv3.FilterChainMatch{TransportProtocol: tlsTransport, ApplicationProtocols: mtlsServerALPN}
}

// passthroughChains carry connections to ports the workload does not
// declare straight to their original destination, under the workload's
// mTLS mode.
func passthroughChains(mode policy.MTLSMode, trustDomain string, authz inboundAuthz) []*listenerv3.FilterChain {
	filters := authz.tcpFilters(tcpProxy(InboundPassthrough, InboundPassthrough))
	plain := &listenerv3.FilterChain{Name: virtualInboundPassthroughChain, Filters: filters}
	mtls := func(m *listenerv3.FilterChainMatch) *listenerv3.FilterChain {
		return &listenerv3.FilterChain{
			Name:             virtualInboundMTLSChain,
			FilterChainMatch: m,
			TransportSocket:  inboundMTLSSocket(trustDomain, false),
			Filters:          filters,
		}
	}
	switch mode {
	case policy.MTLSDisable:
		return []*listenerv3.FilterChain{plain}
	case policy.MTLSStrict:
		return []*listenerv3.FilterChain{mtls(&listenerv3.FilterChainMatch{TransportProtocol: tlsTransport})}
	}
	return []*listenerv3.FilterChain{mtls(meshALPNMatch()), plain}
}

// inboundChain delivers one port's traffic to its inbound cluster: through
// an HTTP connection manager for HTTP ports, as a TCP proxy otherwise.
// socket, when not nil, terminates mTLS first.
func inboundChain(ip inboundPort, socket *corev3.TransportSocket, match *listenerv3.FilterChainMatch, authz inboundAuthz) *listenerv3.FilterChain {
	name := ListenerName(ip.Bind, ip.Port)
	cluster := ClusterName(Inbound, ip.Port, "", "")
	chain := &listenerv3.FilterChain{Name: name, FilterChainMatch: match, TransportSocket: socket}
	if ip.Protocol.IsHTTP() {
		chain.Filters = []*listenerv3.Filter{httpConnectionManager(hcmOptions{
			statPrefix: "inbound_" + name,
			routes:     inboundRouteConfig(ip.Port, cluster),
			inbound:    true,
			authz:      authz.http,
			tracing:    authz.tracing,
		})}
	} else {
		chain.Filters = authz.tcpFilters(tcpProxy(cluster, cluster))
	}
	return chain
}

// inboundAuthz are the filters of a workload's RequestAuthentications and
// AuthorizationPolicies, and the clusters they fetch JWKS from.
type inboundAuthz struct {
	http []*hcmv3.HttpFilter // JWT authentication, then RBAC
	tcp  []*listenerv3.Filter
	jwks []*clusterv3.Cluster
	// tracing of inbound requests (Telemetry), set on HTTP chains.
	tracing *hcmv3.HttpConnectionManager_Tracing
}

// inboundAuthz builds the authentication and authorization filters for a
// workload in ns with labels.
func (idx *Index) inboundAuthz(ns string, labels map[string]string) inboundAuthz {
	var a inboundAuthz
	authns := rbac.RequestAuthenticationsFor(idx.namespaceConfig(policy.KindRequestAuthentication, ns), ns, labels)
	if jwt := rbac.JWTFilter(authns); jwt != nil {
		a.http = append(a.http, jwt)
		a.jwks = rbac.JWKSClusters(authns)
	}
	if policies := rbac.For(idx.namespaceConfig(policy.KindAuthorizationPolicy, ns), ns, labels); len(policies) > 0 {
		a.http = append(a.http, rbac.HTTPFilters(policies, idx.TrustDomain())...)
		a.tcp = rbac.NetworkFilters(policies, idx.TrustDomain())
	}
	return a
}

// tcpFilters runs the RBAC filters, then last.
func (a inboundAuthz) tcpFilters(last *listenerv3.Filter) []*listenerv3.Filter {
	return append(slices.Clip(a.tcp), last)
}

// inboundRouteConfig sends every request to the inbound cluster, without a
// timeout, retrying only requests that never reached the application.
func inboundRouteConfig(port uint32, cluster string) *routev3.RouteConfiguration {
	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
		Timeout:          noTimeout(),
		MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{
			MaxStreamDuration:    noTimeout(),
			GrpcTimeoutHeaderMax: noTimeout(),
		},
		RetryPolicy: &routev3.RetryPolicy{RetryOn: "reset-before-request", NumRetries: wrapperspb.UInt32(defaultRetryAttempts)},
	}
	return &routev3.RouteConfiguration{
		Name: cluster,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    inboundVirtualHostPrefix + strconv.FormatUint(uint64(port), 10),
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:   defaultRouteName,
				Match:  routeMatch(nil),
				Action: &routev3.Route_Route{Route: action},
			}},
		}},
		ValidateClusters: wrapperspb.Bool(false),
	}
}
