package translate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	networking "istio.io/api/networking/v1alpha3"
)

// meshGateway is the gateway name that stands for every sidecar.
const meshGateway = "mesh"

// virtualServicesFor returns the VirtualServices for hostname in the order
// they are tried: the index's precedence, with VirtualServices naming the
// host exactly before wildcard ones, and narrower wildcards before wider.
func virtualServicesFor(idx *Index, ns, hostname string) []*VirtualServiceRef {
	vss := idx.VirtualServices(ns, hostname)
	sort.SliceStable(vss, func(i, j int) bool {
		return bestHostMatch(vss[i].Hosts, hostname) > bestHostMatch(vss[j].Hosts, hostname)
	})
	return vss
}

// virtualServices returns the VirtualServices for hostname that the egress
// listener imports: like services, a Sidecar's egress hosts "NS/HOST" select
// VirtualServices by namespace and host.
func (c *routeContext) virtualServices(hostname string) []*VirtualServiceRef {
	return c.view.virtualServices(hostname)
}

// egressImports applies egress host patterns to a VirtualService: its
// namespace must be named ("*", "." for the proxy's own) and one of its
// hosts must overlap the pattern's host.
func egressImports(patterns []string, proxyNS string, vs *VirtualServiceRef) bool {
	for _, pattern := range patterns {
		ns, dns, ok := strings.Cut(pattern, "/")
		if !ok {
			ns, dns = "*", pattern
		}
		if ns == "." {
			ns = proxyNS
		}
		if ns != "*" && ns != vs.Object.Namespace {
			continue
		}
		for _, h := range vs.Hosts {
			if HostMatches(dns, h) || HostMatches(h, dns) {
				return true
			}
		}
	}
	return false
}

func bestHostMatch(patterns []string, hostname string) int {
	best := -1
	for _, p := range patterns {
		if HostMatches(p, hostname) {
			best = max(best, hostSpecificity(p))
		}
	}
	return best
}

// virtualServiceRoutes translates the http section of a VirtualService for
// the listener port of c. Each match block becomes one route (blocks of one
// rule are alternatives); a rule without match blocks matches everything,
// and nothing after a catch-all route is kept. Empty when no rule applies to
// this proxy and port.
func (c *routeContext) virtualServiceRoutes(vs *VirtualServiceRef) []*routev3.Route {
	var out []*routev3.Route
	for _, rule := range vs.Spec.GetHttp() {
		if rule.GetDelegate() != nil {
			if c.appendDelegateRoutes(&out, vs, rule) {
				break
			}
			continue
		}
		if len(rule.GetMatch()) == 0 {
			if r := c.translateRoute(vs, rule, nil); r != nil {
				out = append(out, r)
			}
			break
		}
		if c.appendMatchRoutes(&out, vs, rule) {
			break
		}
	}
	return out
}

// appendMatchRoutes adds one route per applicable match block and reports
// whether a catch-all was reached.
func (c *routeContext) appendMatchRoutes(out *[]*routev3.Route, vs *VirtualServiceRef, rule *networking.HTTPRoute) bool {
	for _, m := range rule.GetMatch() {
		r := c.translateRoute(vs, rule, m)
		if r == nil {
			continue
		}
		*out = append(*out, r)
		if isCatchAllRoute(r) {
			return true
		}
	}
	return false
}

// appliesTo reports whether a match block concerns this proxy on this port:
// its port, source labels, source namespace and gateways.
func (c *routeContext) appliesTo(m *networking.HTTPMatchRequest) bool {
	if m == nil {
		return true
	}
	if m.GetPort() != 0 && m.GetPort() != c.port {
		return false
	}
	if len(m.GetGateways()) > 0 {
		return containsString(m.GetGateways(), meshGateway)
	}
	return c.view.fromSource(m.GetSourceLabels(), m.GetSourceNamespace())
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// translateRoute builds the Envoy route of one rule and match block; nil
// when the block does not apply or the rule cannot be expressed.
func (c *routeContext) translateRoute(vs *VirtualServiceRef, rule *networking.HTTPRoute, m *networking.HTTPMatchRequest) *routev3.Route {
	if !c.appliesTo(m) {
		return nil
	}
	out := &routev3.Route{
		Name:     routeName(rule, m),
		Match:    routeMatch(m),
		Metadata: configMetadata(vs),
	}
	ops := translateHeaders(rule.GetHeaders())
	out.RequestHeadersToAdd, out.RequestHeadersToRemove = ops.RequestAdd, ops.RequestRemove
	out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = ops.ResponseAdd, ops.ResponseRemove
	if !c.setAction(out, vs, rule, ops.Authority) {
		return nil
	}
	out.TypedPerFilterConfig = perFilterConfig(rule)
	out.Decorator = &routev3.Decorator{Operation: routeOperation(out, vs.Object.Name, c.port)}
	return out
}

// routeOperation names a route in traces: "HOST:PORT/PATH" for a route to
// one cluster, else the VirtualService's name and the listener port.
func routeOperation(r *routev3.Route, vsName string, port uint32) string {
	path := "/*"
	switch ps := r.GetMatch().GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		path = ps.Prefix + "*"
	case *routev3.RouteMatch_Path:
		path = ps.Path
	case *routev3.RouteMatch_SafeRegex:
		path = ps.SafeRegex.GetRegex()
	}
	if dir, p, _, host, ok := parseClusterName(r.GetRoute().GetCluster()); ok && dir == string(Outbound) {
		return host + ":" + p + path
	}
	return vsName + ":" + strconv.FormatUint(uint64(port), 10) + path
}

// parseClusterName splits "DIRECTION|PORT|SUBSET|HOST".
func parseClusterName(name string) (dir, port, subset, host string, ok bool) {
	parts := strings.SplitN(name, "|", 4)
	if len(parts) != 4 {
		return "", "", "", "", false
	}
	return parts[0], parts[1], parts[2], parts[3], true
}

func (c *routeContext) setAction(out *routev3.Route, vs *VirtualServiceRef, rule *networking.HTTPRoute, authority string) bool {
	switch {
	case rule.GetRedirect() != nil:
		redirect := redirectAction(rule.GetRedirect(), c.port)
		if redirect == nil {
			return false
		}
		out.Action = &routev3.Route_Redirect{Redirect: redirect}
	case rule.GetDirectResponse() != nil:
		out.Action = &routev3.Route_DirectResponse{DirectResponse: directResponseAction(rule.GetDirectResponse())}
	case len(rule.GetRoute()) > 0:
		out.Action = &routev3.Route_Route{Route: c.forwardAction(out, rule, vs.Object.Namespace, authority)}
	default: // a delegating rule: see appendDelegateRoutes
		return false
	}
	return true
}

// routeName is the rule's name, suffixed with the match block's name.
func routeName(rule *networking.HTTPRoute, m *networking.HTTPMatchRequest) string {
	if m.GetName() != "" {
		return rule.GetName() + "." + m.GetName()
	}
	return rule.GetName()
}

// perFilterConfig carries fault injection and CORS to their HTTP filters.
func perFilterConfig(rule *networking.HTTPRoute) map[string]*anypb.Any {
	out := map[string]*anypb.Any{}
	if fault := faultConfig(rule.GetFault()); fault != nil {
		out[wellknown.Fault] = typedAny(fault)
	}
	if cors := corsConfig(rule.GetCorsPolicy()); cors != nil {
		out[wellknown.CORS] = typedAny(cors)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// configMetadata names the VirtualService a route came from, in the form
// istio-proxy tooling reads.
// VirtualServiceOf is the "NAMESPACE/NAME" of the VirtualService a route
// was translated from, read from the metadata configMetadata writes; ""
// for a route of no VirtualService (a service's default route).
func VirtualServiceOf(r *routev3.Route) string {
	path := r.GetMetadata().GetFilterMetadata()["istio"].GetFields()["config"].GetStringValue()
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p == "namespaces" && i+3 < len(parts) && parts[i+2] == "virtual-service" {
			return parts[i+1] + "/" + parts[i+3]
		}
	}
	return ""
}

func configMetadata(vs *VirtualServiceRef) *corev3.Metadata {
	path := fmt.Sprintf("/apis/networking.istio.io/v1/namespaces/%s/virtual-service/%s", vs.Object.Namespace, vs.Object.Name)
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"istio": {Fields: map[string]*structpb.Value{"config": structpb.NewStringValue(path)}},
	}}
}
