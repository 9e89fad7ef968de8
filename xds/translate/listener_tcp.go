package translate

import (
	"slices"
	"sort"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// isTLSProtocol reports whether connections on the port are TLS the proxy
// passes through, routed by SNI.
func isTLSProtocol(p discovery.Protocol) bool {
	return p == discovery.ProtocolTLS || p == discovery.ProtocolHTTPS
}

// tcpChains builds the filter chains of one service on a TCP or TLS
// listener at address.
func (c *routeContext) tcpChains(con tcpContribution, address string) []chainSpec {
	c = c.withEgress(con.Egress.Listener)
	vss := c.virtualServices(con.Service.Hostname)
	if isTLSProtocol(con.Port.Protocol) {
		return c.tlsChains(con, address, vss)
	}
	return c.plainTCPChains(con, vss)
}

// tlsChains follows the tls routes of the service's VirtualServices, one
// chain per distinct SNI/subnet match; without any, one chain to the
// service, matched by SNI when the listener is not the service's own VIP.
func (c *routeContext) tlsChains(con tcpContribution, address string, vss []*VirtualServiceRef) []chainSpec {
	var out []chainSpec
	handled := map[string]bool{}
	for _, vs := range vss {
		for _, route := range vs.Spec.GetTls() {
			out = append(out, c.tlsRouteChains(con, vs, route, handled)...)
		}
	}
	if len(out) > 0 {
		return out
	}
	chain := c.serviceChain(con)
	if !ownsAddress(con.Service, address) || con.CIDR != "" {
		chain.serverNames = []string{con.Service.Hostname}
	}
	return []chainSpec{chain}
}

func (c *routeContext) tlsRouteChains(con tcpContribution, vs *VirtualServiceRef, route *networking.TLSRoute, handled map[string]bool) []chainSpec {
	var out []chainSpec
	for _, m := range route.GetMatch() {
		if !c.l4Applies(m.GetPort(), m.GetSourceLabels(), m.GetSourceNamespace(), m.GetGateways()) {
			continue
		}
		chain := chainSpec{serverNames: m.GetSniHosts(), cidrs: cidrsOf(con)}
		if len(m.GetDestinationSubnets()) > 0 {
			chain.cidrs = m.GetDestinationSubnets()
		}
		if k := chain.key(); !handled[k] {
			handled[k] = true
			chain.filters = []*listenerv3.Filter{c.routeDestinationsFilter(route.GetRoute(), vs)}
			out = append(out, chain)
		}
	}
	return out
}

// plainTCPChains follows the tcp routes of the service's VirtualServices
// until one matches every destination; without that, the service's own
// chain closes the list.
func (c *routeContext) plainTCPChains(con tcpContribution, vss []*VirtualServiceRef) []chainSpec {
	var out []chainSpec
	for _, vs := range vss {
		for _, route := range vs.Spec.GetTcp() {
			chain, complete := c.tcpRouteChain(con, vs, route)
			if chain != nil {
				out = append(out, *chain)
			}
			if complete {
				return out
			}
		}
	}
	return append(out, c.serviceChain(con))
}

// tcpRouteChain gives the chain of one tcp route and whether it catches all
// the service's traffic. Match blocks with destination subnets only are
// gathered into one chain for those subnets.
func (c *routeContext) tcpRouteChain(con tcpContribution, vs *VirtualServiceRef, route *networking.TCPRoute) (*chainSpec, bool) {
	filters := func() []*listenerv3.Filter {
		return []*listenerv3.Filter{c.routeDestinationsFilter(route.GetRoute(), vs)}
	}
	if len(route.GetMatch()) == 0 {
		return &chainSpec{cidrs: cidrsOf(con), filters: filters()}, true
	}
	var subnets []string
	for _, m := range route.GetMatch() {
		if !c.l4Applies(m.GetPort(), m.GetSourceLabels(), m.GetSourceNamespace(), m.GetGateways()) {
			continue
		}
		if len(m.GetDestinationSubnets()) == 0 {
			return &chainSpec{cidrs: cidrsOf(con), filters: filters()}, true
		}
		subnets = append(subnets, m.GetDestinationSubnets()...)
	}
	if len(subnets) == 0 {
		return nil, false
	}
	sort.Strings(subnets)
	return &chainSpec{cidrs: subnets, filters: filters()}, slices.Equal(subnets, cidrsOf(con))
}

// l4Applies checks the static parts of a tcp or tls match: the port, the
// proxy's labels and namespace, and the gateways.
func (c *routeContext) l4Applies(port uint32, sourceLabels map[string]string, sourceNS string, gateways []string) bool {
	return (port == 0 || port == c.port) &&
		c.view.fromSource(sourceLabels, sourceNS) &&
		(len(gateways) == 0 || containsString(gateways, meshGateway))
}

// serviceChain forwards the service's connections to its own cluster: the
// listener port, or the service's only port when it has one.
func (c *routeContext) serviceChain(con tcpContribution) chainSpec {
	port := con.Port.Number
	if len(con.Service.Ports) == 1 {
		port = con.Service.Ports[0].Number
	}
	cluster := ClusterName(Outbound, port, "", con.Service.Hostname)
	return chainSpec{cidrs: cidrsOf(con), filters: []*listenerv3.Filter{tcpProxy(cluster, cluster)}}
}

// routeDestinationsFilter forwards to one destination, or splits
// connections by weight between several.
func (c *routeContext) routeDestinationsFilter(dsts []*networking.RouteDestination, vs *VirtualServiceRef) *listenerv3.Filter {
	ns := vs.Object.Namespace
	if len(dsts) == 1 {
		cluster := c.destinationCluster(dsts[0].GetDestination(), ns)
		return tcpProxy(cluster, cluster)
	}
	var clusters []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight
	for _, d := range dsts {
		if d.GetWeight() > 0 {
			clusters = append(clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{
				Name:   c.destinationCluster(d.GetDestination(), ns),
				Weight: uint32(d.GetWeight()),
			})
		}
	}
	if len(clusters) == 0 {
		return tcpProxy(BlackHoleCluster, BlackHoleCluster)
	}
	return weightedTCPProxy(vs.Object.Name+"."+ns, clusters)
}

// ownsAddress reports whether address is one of the service's VIPs.
func ownsAddress(svc *discovery.Service, address string) bool {
	return address != wildcardAddress && containsString(svc.Addresses, address)
}

func cidrsOf(con tcpContribution) []string {
	if con.CIDR == "" {
		return nil
	}
	return []string{con.CIDR}
}
