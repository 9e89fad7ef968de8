package translate

import (
	"net/netip"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// gatewayTLSHandshakeTimeout bounds how long a client may take to set up
// TLS on a gateway chain, against slow-handshake attacks.
const gatewayTLSHandshakeTimeout = 15 * time.Second

// gatewayListeners builds one listener per port (and bind address) of the
// Gateways that select the proxy (see planGateways), named "0.0.0.0_PORT".
// A port none of whose servers yields a filter chain (a TCP server without
// a matching tcp route, say) has no listener; an unprivileged proxy gets
// none below 1024.
func gatewayListeners(idx *Index, p *model.Proxy, scope *Scope, targetPorts string) []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, gp := range planGateways(idx, p) {
		if proxyUnprivileged(p) && listenPort(targetPorts, gp.port) < 1024 {
			continue
		}
		if l := gatewayListener(idx, p, scope, gp, listenPort(targetPorts, gp.port)); l != nil {
			out = append(out, l)
		}
	}
	return out
}

// gatewayListener listens on port (the servers' port, or the target port
// the gateway's Service maps it to) for the servers of gp.
func gatewayListener(idx *Index, p *model.Proxy, scope *Scope, gp *gatewayPort, port uint32) *listenerv3.Listener {
	address := gatewayBindAddress(p, gp.bind)
	name := ListenerName(address, port)
	b := &gatewayChainBuilder{
		c: newRouteContext(idx, p, gp.port, nil), namespace: p.Namespace,
		scope: scope, port: gp, statPrefix: "outbound_" + name, sniSeen: map[string]bool{},
	}
	chains := b.chains()
	if len(chains) == 0 {
		return nil
	}
	l := &listenerv3.Listener{
		Name:             name,
		Address:          gatewayListenAddress(address, port),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
	}
	for _, c := range chains {
		fc := c.build()
		if c.transportSocket != nil {
			fc.TransportSocketConnectTimeout = durationpb.New(gatewayTLSHandshakeTimeout)
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	if needsTLSInspector(chains) {
		l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspectorFilter()}
	}
	return l
}

// gatewayBindAddress is the server's bind address, else the wildcard of
// the proxy's address family.
func gatewayBindAddress(p *model.Proxy, bind string) string {
	if bind != "" {
		return bind
	}
	for _, ip := range p.IPAddresses {
		if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is4() {
			return wildcardAddress
		}
	}
	if len(p.IPAddresses) > 0 {
		return "::"
	}
	return wildcardAddress
}

// gatewayListenAddress is a TCP address, or the Unix socket a
// "unix://PATH" bind names.
func gatewayListenAddress(address string, port uint32) *corev3.Address {
	if path, ok := strings.CutPrefix(address, unixBindPrefix); ok {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}}
	}
	return socketAddress(address, port)
}

// unixBindPrefix marks a server bound to a Unix domain socket.
const unixBindPrefix = "unix://"

// needsTLSInspector: some chain matches on SNI or ALPN, or negotiates ALPN.
func needsTLSInspector(chains []chainSpec) bool {
	for _, c := range chains {
		if len(c.effectiveServerNames()) > 0 || len(c.appProtocols) > 0 || c.transportSocket != nil {
			return true
		}
	}
	return false
}

// gatewayChainBuilder builds the filter chains of one gateway listener.
type gatewayChainBuilder struct {
	c          *routeContext
	namespace  string // the gateway's
	scope      *Scope
	port       *gatewayPort
	statPrefix string
	sniSeen    map[string]bool // SNI names passthrough chains already match
}

// chains: a plain-text port has one chain, HTTP or TCP; a TLS port one or
// more per server, matched by SNI. A chain matching what an earlier one
// matches is dropped, as Envoy would reject the listener.
func (b *gatewayChainBuilder) chains() []chainSpec {
	first := b.port.servers[0]
	if !b.port.sni {
		if first.protocol.IsHTTP() {
			return []chainSpec{{filters: []*listenerv3.Filter{gatewayConnectionManager(b.statPrefix, first.routeName)}}}
		}
		if filters := b.tcpRouteFilters(first); filters != nil {
			return []chainSpec{{filters: filters}}
		}
		return nil
	}
	var out []chainSpec
	for _, gs := range b.port.servers {
		out = mergeChains(out, b.serverChains(gs))
	}
	return out
}

func (b *gatewayChainBuilder) serverChains(gs *gatewayServer) []chainSpec {
	switch {
	case terminatesHTTPS(gs):
		statPrefix := gs.spec.GetName()
		if statPrefix == "" {
			statPrefix = b.statPrefix
		}
		return []chainSpec{{
			serverNames:     gs.sniHosts(),
			transportSocket: gatewayTLSSocket(gs),
			filters:         []*listenerv3.Filter{gatewayConnectionManager(statPrefix, gs.routeName)},
		}}
	case !isPassthrough(gs.spec):
		filters := b.tcpRouteFilters(gs)
		if filters == nil {
			return nil
		}
		return []chainSpec{{serverNames: gs.sniHosts(), transportSocket: gatewayTLSSocket(gs), filters: filters}}
	case gs.spec.GetTls().GetMode() == networking.ServerTLSSettings_AUTO_PASSTHROUGH:
		return b.autoPassthroughChains(gs)
	default:
		return b.passthroughChains(gs)
	}
}

// tcpRouteFilters forward a TCP server's connections (or a TLS server's,
// once terminated) as the first applicable tcp route of the bound
// VirtualServices says; nil when none applies.
func (b *gatewayChainBuilder) tcpRouteFilters(gs *gatewayServer) []*listenerv3.Filter {
	for _, vs := range boundVirtualServices(b.c.idx, b.namespace, gs.gateway) {
		if !hostsOverlap(gs.hostsFor(vs.Object.Namespace), vs.Hosts) {
			continue
		}
		for _, route := range vs.Spec.GetTcp() {
			if len(route.GetRoute()) > 0 && tcpRouteApplies(route, vs, gs) {
				return []*listenerv3.Filter{b.c.routeDestinationsFilter(route.GetRoute(), vs)}
			}
		}
	}
	return nil
}

func tcpRouteApplies(route *networking.TCPRoute, vs *VirtualServiceRef, gs *gatewayServer) bool {
	for _, m := range route.GetMatch() {
		if gatewayL4Applies(m.GetPort(), m.GetGateways(), vs.Object.Namespace, gs) {
			return true
		}
	}
	return len(route.GetMatch()) == 0
}

// passthroughChains route a PASSTHROUGH server's connections by SNI, one
// chain per applicable tls match of the bound VirtualServices; a match
// naming an SNI host another chain of the listener took is skipped.
func (b *gatewayChainBuilder) passthroughChains(gs *gatewayServer) []chainSpec {
	var out []chainSpec
	for _, vs := range boundVirtualServices(b.c.idx, b.namespace, gs.gateway) {
		if !hostsOverlap(gs.hostsFor(vs.Object.Namespace), vs.Hosts) {
			continue
		}
		for _, route := range vs.Spec.GetTls() {
			if len(route.GetRoute()) == 0 {
				continue
			}
			for _, m := range route.GetMatch() {
				if gatewayL4Applies(m.GetPort(), m.GetGateways(), vs.Object.Namespace, gs) && b.claimSNI(m.GetSniHosts()) {
					out = append(out, chainSpec{
						serverNames: m.GetSniHosts(),
						filters:     []*listenerv3.Filter{b.c.routeDestinationsFilter(route.GetRoute(), vs)},
					})
				}
			}
		}
	}
	return out
}

func (b *gatewayChainBuilder) claimSNI(hosts []string) bool {
	for _, h := range hosts {
		if b.sniSeen[h] {
			return false
		}
	}
	for _, h := range hosts {
		b.sniSeen[h] = true
	}
	return true
}

// autoPassthroughChains pass mesh mTLS through to the service (and subset)
// its SNI names, "outbound_.PORT_.SUBSET_.HOST", for every mesh service of
// the proxy's scope that the server's hosts cover. Each chain forwards to
// the cluster named like that SNI, which the gateway's clusters must hold.
func (b *gatewayChainBuilder) autoPassthroughChains(gs *gatewayServer) []chainSpec {
	var out []chainSpec
	for _, svc := range scopeServices(b.scope) {
		if svc.Location != discovery.MeshInternal || !anyHostMatches(gs.sniHosts(), svc.Hostname) {
			continue
		}
		subsets := []string{""}
		for _, s := range ruleSubsets(b.c.idx.DestinationRule(b.namespace, svc)) {
			subsets = append(subsets, s.GetName())
		}
		for _, port := range svc.Ports {
			for _, subset := range subsets {
				sni := SNI(port.Number, subset, svc.Hostname)
				out = append(out, chainSpec{
					serverNames:  []string{sni},
					appProtocols: mtlsServerALPN,
					filters:      []*listenerv3.Filter{tcpProxy(sni, sni)},
				})
			}
		}
	}
	return out
}

// ruleSubsets are the subsets of a DestinationRule; none for no rule.
func ruleSubsets(ref *DestinationRuleRef) []*networking.Subset {
	if ref == nil {
		return nil
	}
	return ref.Spec.GetSubsets()
}

// scopeServices lists the services of every egress scope once.
func scopeServices(scope *Scope) []*discovery.Service {
	seen := map[*discovery.Service]bool{}
	var out []*discovery.Service
	for _, e := range scope.Egress {
		for _, svc := range e.Services {
			if !seen[svc] {
				seen[svc] = true
				out = append(out, svc)
			}
		}
	}
	return out
}

// gatewayConnectionManager is the HTTP connection manager of a gateway
// server: it trusts no X-Forwarded-For hop (the client address is the
// downstream peer's), sanitizes and sets X-Forwarded-Client-Cert, and takes
// its routes from the route configuration rds over ADS.
func gatewayConnectionManager(statPrefix, rds string) *listenerv3.Filter {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:                   statPrefix,
		CodecType:                    hcmv3.HttpConnectionManager_AUTO,
		HttpFilters:                  httpFilters(),
		UseRemoteAddress:             wrapperspb.Bool(true),
		ServerName:                   inboundServerName,
		GenerateRequestId:            wrapperspb.Bool(true),
		NormalizePath:                wrapperspb.Bool(true),
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		StreamIdleTimeout:            durationpb.New(0),
		UpgradeConfigs:               []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		ForwardClientCertDetails:     hcmv3.HttpConnectionManager_SANITIZE_SET,
		SetCurrentClientCertDetails: &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(true), Cert: true, Dns: true, Uri: true,
		},
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: rds,
		}},
	}
	return &listenerv3.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(hcm)},
	}
}
