package translate

import (
	"slices"
	"sort"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// gatewayRoutes builds the route configurations of the proxy's gateway
// listeners (see gatewayListeners): "http.PORT" for the plain-text HTTP
// servers of a port, "https.PORT.PORTNAME.GATEWAY.NAMESPACE" for each HTTPS
// server that terminates TLS.
func gatewayRoutes(idx *Index, p *model.Proxy) []*routev3.RouteConfiguration {
	var out []*routev3.RouteConfiguration
	for _, gp := range planGateways(idx, p) {
		if proxyUnprivileged(p) && gp.port < 1024 {
			continue
		}
		for _, name := range gp.routeNames() {
			out = append(out, gatewayRouteConfig(idx, p, gp.port, name, gp.serversRouted(name)))
		}
	}
	return out
}

// routeNames lists the port's route configurations in server order.
func (gp *gatewayPort) routeNames() []string {
	var out []string
	for _, gs := range gp.servers {
		if gs.routeName != "" && !slices.Contains(out, gs.routeName) {
			out = append(out, gs.routeName)
		}
	}
	return out
}

func (gp *gatewayPort) serversRouted(routeName string) []*gatewayServer {
	var out []*gatewayServer
	for _, gs := range gp.servers {
		if gs.routeName == routeName {
			out = append(out, gs)
		}
	}
	return out
}

// gatewayRouteConfig gives each host of the servers that a bound
// VirtualService fills a virtual host, "HOST:PORT", whose routes are those
// of every such VirtualService, catch-all routes last. A host only names
// itself: the port in a Host header is ignored. An HTTP server with
// httpsRedirect answers its hosts with a redirect to HTTPS. With no virtual
// host at all, every request gets a 404.
func gatewayRouteConfig(idx *Index, p *model.Proxy, port uint32, name string, servers []*gatewayServer) *routev3.RouteConfiguration {
	b := &gatewayVirtualHosts{c: newRouteContext(idx, p, port, nil), namespace: p.Namespace, byHost: map[string]*routev3.VirtualHost{}, routes: map[string][]*routev3.Route{}}
	for _, gs := range servers {
		b.addServer(gs)
	}
	return &routev3.RouteConfiguration{
		Name:                           name,
		VirtualHosts:                   b.list(port),
		ValidateClusters:               wrapperspb.Bool(false),
		IgnorePortInHostMatching:       true,
		MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(maxDirectResponseBody),
	}
}

// gatewayVirtualHosts gathers the virtual hosts of one route configuration.
type gatewayVirtualHosts struct {
	c         *routeContext
	namespace string // the gateway's
	byHost    map[string]*routev3.VirtualHost
	// routes are the routes of a VirtualService for a gateway, by
	// "GATEWAY|NAMESPACE/NAME", built once.
	routes map[string][]*routev3.Route
}

func (b *gatewayVirtualHosts) addServer(gs *gatewayServer) {
	redirect := gs.spec.GetTls().GetHttpsRedirect()
	for _, vs := range boundVirtualServices(b.c.idx, b.namespace, gs.gateway) {
		hosts := matchingHosts(gs.hostsFor(vs.Object.Namespace), vs.Hosts)
		if len(hosts) == 0 {
			continue
		}
		routes := b.routesOf(vs, gs.gateway)
		if len(routes) == 0 {
			continue
		}
		for _, h := range hosts {
			vh := b.host(h)
			vh.Routes = append(vh.Routes, routes...)
			if redirect {
				vh.RequireTls = routev3.VirtualHost_ALL
			}
		}
	}
	if redirect {
		for _, h := range gs.sniHosts() {
			b.host(strings.ToLower(h)).RequireTls = routev3.VirtualHost_ALL
		}
	}
}

func (b *gatewayVirtualHosts) routesOf(vs *VirtualServiceRef, gateway string) []*routev3.Route {
	key := gateway + "|" + vs.Object.Namespace + "/" + vs.Object.Name
	routes, ok := b.routes[key]
	if !ok {
		routes = b.c.virtualServiceRoutes(vs.forGateway(gateway))
		b.routes[key] = routes
	}
	return routes
}

func (b *gatewayVirtualHosts) host(h string) *routev3.VirtualHost {
	vh := b.byHost[h]
	if vh == nil {
		vh = &routev3.VirtualHost{Name: VirtualHostName(h, b.c.port), Domains: []string{h}, IncludeRequestAttemptCount: true}
		b.byHost[h] = vh
	}
	return vh
}

// list returns the virtual hosts by name, or the 404 one when there are
// none.
func (b *gatewayVirtualHosts) list(port uint32) []*routev3.VirtualHost {
	if len(b.byHost) == 0 {
		return []*routev3.VirtualHost{{Name: gatewayBlackholeVirtualHost(port), Domains: []string{"*"}}}
	}
	out := make([]*routev3.VirtualHost, 0, len(b.byHost))
	for _, vh := range b.byHost {
		vh.Routes = catchAllLast(vh.Routes)
		out = append(out, vh)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// catchAllLast moves catch-all routes behind the others, keeping each
// group's order, so that one VirtualService's catch-all does not hide the
// routes of the next.
func catchAllLast(routes []*routev3.Route) []*routev3.Route {
	out := make([]*routev3.Route, 0, len(routes))
	var catchAll []*routev3.Route
	for _, r := range routes {
		if isCatchAllRoute(r) {
			catchAll = append(catchAll, r)
		} else {
			out = append(out, r)
		}
	}
	return append(out, catchAll...)
}
