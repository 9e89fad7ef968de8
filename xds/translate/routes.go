package translate

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Names of the catch-all virtual hosts, as Istio names them.
const (
	allowAnyVirtualHost = "allow_any"
	blockAllVirtualHost = "block_all"
	defaultRouteName    = "default"
)

// maxDirectResponseBody raises Envoy's 4 KiB limit on direct response
// bodies to the 1 MiB Istio allows.
const maxDirectResponseBody = 1 << 20

// buildRoutes builds one route configuration per outbound HTTP listener of
// the proxy (see planOutbound): a virtual host per service on the port, then
// the catch-all host of the outbound traffic policy. Gateways get those of
// their gateway listeners (see gatewayRoutes).
//
// The routes of each service's virtual host come from units.
func buildRoutes(idx *Index, p *model.Proxy, scope *Scope, units unitSource) []*routev3.RouteConfiguration {
	if p.Type == model.RouterProxy {
		return gatewayRoutes(idx, p)
	}
	var out []*routev3.RouteConfiguration
	for _, e := range planOutbound(p, scope).HTTPEntries() {
		out = append(out, outboundRouteConfig(idx, p, scope, e, units))
	}
	return out
}

func outboundRouteConfig(idx *Index, p *model.Proxy, scope *Scope, e *outboundEntry, units unitSource) *routev3.RouteConfiguration {
	view := newProxyView(idx, p)
	view.egress = e.HTTPEgress.Listener
	routesOf := func(svc *discovery.Service) []*routev3.Route {
		u := units.serviceRoutes(serviceRoutesInput{index: idx.base, service: svc, port: e.Port}, view)
		if u.err != nil {
			panic(u.err)
		}
		return u.routes
	}
	services := httpServicesOnPort(e.HTTPEgress.Services, e.Port, p.Namespace)
	vhosts := serviceVirtualHosts(services, e.Port, p.DNSDomain, routesOf, units.virtualHost)
	vhosts = append(vhosts, catchAllVirtualHost(outboundPolicyOf(scope)))
	return &routev3.RouteConfiguration{
		Name:                           e.RouteName,
		VirtualHosts:                   vhosts,
		ValidateClusters:               wrapperspb.Bool(false),
		MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(maxDirectResponseBody),
	}
}

// httpServicesOnPort keeps the services with an HTTP port numbered port,
// one per hostname: the proxy's own namespace's when several define it.
func httpServicesOnPort(services []*discovery.Service, port uint32, ns string) []*discovery.Service {
	byHost := map[string]int{}
	var out []*discovery.Service
	for _, svc := range services {
		sp := svc.Port(port)
		if sp == nil || !sp.Protocol.IsHTTP() {
			continue
		}
		i, seen := byHost[svc.Hostname]
		switch {
		case !seen:
			byHost[svc.Hostname] = len(out)
			out = append(out, svc)
		case svc.Namespace == ns:
			out[i] = svc
		}
	}
	return out
}

// serviceVirtualHosts gives each service its virtual host on port, with
// domains kept unique across the configuration (short forms for a proxy in
// DNS domain dnsDomain) and the routes routesOf gives, made by
// virtualHost. A service's own hostname always belongs to it, never to
// another service's short forms.
func serviceVirtualHosts(services []*discovery.Service, port uint32, dnsDomain string, routesOf func(*discovery.Service) []*routev3.Route, virtualHost func(virtualHostInput) *routev3.VirtualHost) []*routev3.VirtualHost {
	claimed := domainSet{}
	for _, svc := range services {
		claimed.claim(withPort(nil, svc.Hostname, port))
	}
	var out []*routev3.VirtualHost
	for _, svc := range services {
		aliases := claimed.claim(aliasDomains(svc, port, dnsDomain))
		out = append(out, virtualHost(virtualHostInput{
			name:    VirtualHostName(svc.Hostname, port),
			domains: append(withPort(nil, svc.Hostname, port), aliases...),
			routes:  routesOf(svc),
		}))
	}
	return out
}

// virtualHostInput is everything a service's virtual host is made of
// (buildVirtualHost reads nothing else), so two views that give a service
// equal inputs may share one virtual host (see unitTable.virtualHost).
type virtualHostInput struct {
	name    string
	domains []string
	routes  []*routev3.Route // a unit's routes, never modified
}

// buildVirtualHost is the virtual host of in.
func buildVirtualHost(in virtualHostInput) *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name:                       in.name,
		Domains:                    in.domains,
		Routes:                     in.routes,
		IncludeRequestAttemptCount: true,
	}
}

// serviceRoutes are the routes of the first VirtualService that has any for
// this port, else the default route to the service.
func (c *routeContext) serviceRoutes(svc *discovery.Service) []*routev3.Route {
	for _, vs := range c.virtualServices(svc.Hostname) {
		if routes := c.virtualServiceRoutes(vs); len(routes) > 0 {
			return routes
		}
	}
	return []*routev3.Route{c.defaultRoute(svc)}
}

// defaultRoute forwards everything to the service's cluster with Istio's
// default retries and no timeout.
func (c *routeContext) defaultRoute(svc *discovery.Service) *routev3.Route {
	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: ClusterName(Outbound, c.port, "", svc.Hostname)},
		HashPolicy:       HashPolicy(c.loadBalancer(svc, "", c.port)),
	}
	setTimeout(action, nil)
	action.RetryPolicy = defaultRetryPolicy(len(action.HashPolicy) > 0)
	return &routev3.Route{
		Name:      defaultRouteName,
		Match:     routeMatch(nil),
		Action:    &routev3.Route_Route{Route: action},
		Decorator: &routev3.Decorator{Operation: VirtualHostName(svc.Hostname, c.port) + "/*"},
	}
}

// catchAllVirtualHost answers hosts no service claims: passed through to
// their original destination (or the egress proxy) under ALLOW_ANY, a 502
// under REGISTRY_ONLY.
func catchAllVirtualHost(policy outboundPolicy) *routev3.VirtualHost {
	if !policy.AllowAny {
		return &routev3.VirtualHost{
			Name:    blockAllVirtualHost,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:   blockAllVirtualHost,
				Match:  routeMatch(nil),
				Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 502}},
			}},
			IncludeRequestAttemptCount: true,
		}
	}
	action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: policy.Cluster}}
	setTimeout(action, nil)
	return &routev3.VirtualHost{
		Name:                       allowAnyVirtualHost,
		Domains:                    []string{"*"},
		Routes:                     []*routev3.Route{{Name: allowAnyVirtualHost, Match: routeMatch(nil), Action: &routev3.Route_Route{Route: action}}},
		IncludeRequestAttemptCount: true,
	}
}
