package simulate

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// Request is what a workload sends: the authority (HOST or HOST:PORT), the
// port it connects to, the path, and optionally method and headers.
type Request struct {
	Host    string
	Port    uint32
	Path    string
	Method  string
	Headers map[string]string
}

// Result is where the request goes.
type Result struct {
	RouteConfig    string            `json:"routeConfig"`
	VirtualHost    string            `json:"virtualHost"`
	Route          string            `json:"route"`
	Clusters       []WeightedCluster `json:"clusters,omitempty"`
	DirectResponse uint32            `json:"directResponse,omitempty"` // the status Envoy answers itself
	Redirect       string            `json:"redirect,omitempty"`
	VirtualService string            `json:"virtualService,omitempty"` // NAMESPACE/NAME the route came from
	// Skipped are routes passed over because a matcher could not be
	// simulated.
	Skipped []string `json:"skipped,omitempty"`
}

// WeightedCluster is a cluster and its weight.
type WeightedCluster struct {
	Name   string `json:"name"`
	Weight uint32 `json:"weight"`
}

// Route follows req through res.
func Route(res *translate.Resources, req Request) (*Result, error) {
	rc := routeConfigFor(res, req.Port)
	if rc == nil {
		return nil, fmt.Errorf("no route configuration for port %d", req.Port)
	}
	vh := virtualHostFor(rc, req.Host, req.Port)
	if vh == nil {
		return nil, fmt.Errorf("route configuration %q: no virtual host for %q", rc.GetName(), req.Host)
	}
	out := &Result{RouteConfig: rc.GetName(), VirtualHost: vh.GetName()}
	for _, r := range vh.GetRoutes() {
		ok, unknown := matches(r.GetMatch(), req)
		if unknown != "" {
			out.Skipped = append(out.Skipped, fmt.Sprintf("%s (%s)", r.GetName(), unknown))
			continue
		}
		if ok {
			out.Route = r.GetName()
			out.VirtualService = translate.VirtualServiceOf(r)
			setAction(out, r)
			return out, nil
		}
	}
	return nil, fmt.Errorf("route configuration %q, virtual host %q: no route for %s %s", rc.GetName(), vh.GetName(), methodOr(req.Method), req.Path)
}

func methodOr(m string) string {
	if m == "" {
		return "GET"
	}
	return m
}

// routeConfigFor is the route configuration of port: the one the HTTP
// connection manager of the proxy's listener on port names (a listener on
// every address first, then one bound to an address, as a Sidecar's
// egress bind makes), else the one named by the port, as Istio names a
// sidecar's outbound HTTP route configuration.
func routeConfigFor(res *translate.Resources, port uint32) *routev3.RouteConfiguration {
	name := strconv.FormatUint(uint64(port), 10)
	if rds := rdsOfPort(res.Listeners, port); rds != "" {
		name = rds
	}
	for _, rc := range res.Routes {
		if rc.GetName() == name {
			return rc
		}
	}
	return nil
}

// rdsOfPort is the route configuration a listener on port names, one on
// every address first; "" for none.
func rdsOfPort(listeners []*listenerv3.Listener, port uint32) string {
	var bound string
	for _, l := range listeners {
		addr := l.GetAddress().GetSocketAddress()
		if addr.GetPortValue() != port {
			continue
		}
		rds := rdsOf(l)
		switch {
		case rds == "":
		case addr.GetAddress() == "0.0.0.0" || addr.GetAddress() == "::":
			return rds
		case bound == "":
			bound = rds
		}
	}
	return bound
}

// rdsOf is the route configuration the first HTTP connection manager of l
// takes over RDS.
func rdsOf(l *listenerv3.Listener) string {
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			var hcm hcmv3.HttpConnectionManager
			if f.GetTypedConfig().UnmarshalTo(&hcm) == nil && hcm.GetRds() != nil {
				return hcm.GetRds().GetRouteConfigName()
			}
		}
	}
	return ""
}

// virtualHostFor picks the virtual host for authority with Envoy's
// precedence: an exact domain, then the longest suffix wildcard, then the
// longest prefix wildcard, then "*".
func virtualHostFor(rc *routev3.RouteConfiguration, authority string, port uint32) *routev3.VirtualHost {
	candidates := []string{strings.ToLower(authority)}
	if _, _, err := net.SplitHostPort(authority); err != nil {
		candidates = append(candidates, strings.ToLower(net.JoinHostPort(authority, strconv.FormatUint(uint64(port), 10))))
	}
	var best *routev3.VirtualHost
	bestRank, bestLen := 0, -1
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			for _, host := range candidates {
				rank, length := domainMatch(strings.ToLower(d), host)
				if rank > bestRank || (rank == bestRank && rank > 0 && length > bestLen) {
					best, bestRank, bestLen = vh, rank, length
				}
			}
		}
	}
	return best
}

// domainMatch ranks how domain matches host: 4 exact, 3 suffix wildcard,
// 2 prefix wildcard, 1 "*", 0 none; length orders wildcards.
func domainMatch(domain, host string) (rank, length int) {
	switch {
	case domain == host:
		return 4, len(domain)
	case domain == "*":
		return 1, 0
	case strings.HasPrefix(domain, "*") && strings.HasSuffix(host, domain[1:]) && len(host) > len(domain)-1:
		return 3, len(domain)
	case strings.HasSuffix(domain, "*") && strings.HasPrefix(host, domain[:len(domain)-1]) && len(host) > len(domain)-1:
		return 2, len(domain)
	}
	return 0, 0
}

// matches reports whether m matches req, or names a matcher it cannot
// simulate.
func matches(m *routev3.RouteMatch, req Request) (bool, string) {
	if len(m.GetQueryParameters()) > 0 {
		return false, "query parameters"
	}
	if m.GetRuntimeFraction() != nil || len(m.GetDynamicMetadata()) > 0 || m.GetGrpc() != nil || m.GetTlsContext() != nil {
		return false, "runtime, metadata, gRPC or TLS matcher"
	}
	ok, unknown := pathMatches(m, req.Path)
	if !ok || unknown != "" {
		return false, unknown
	}
	for _, h := range m.GetHeaders() {
		ok, unknown := headerMatches(h, req)
		if unknown != "" || !ok {
			return false, unknown
		}
	}
	return true, ""
}

func pathMatches(m *routev3.RouteMatch, path string) (bool, string) {
	sensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	p := path
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	fold := func(s string) string {
		if sensitive {
			return s
		}
		return strings.ToLower(s)
	}
	switch spec := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return strings.HasPrefix(fold(p), fold(spec.Prefix)), ""
	case *routev3.RouteMatch_Path:
		return fold(p) == fold(spec.Path), ""
	case *routev3.RouteMatch_PathSeparatedPrefix:
		pre := fold(spec.PathSeparatedPrefix)
		q := fold(p)
		return q == pre || strings.HasPrefix(q, pre+"/"), ""
	case *routev3.RouteMatch_SafeRegex:
		re, err := regexp.Compile("^(?:" + spec.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return false, "regex " + spec.SafeRegex.GetRegex()
		}
		return re.MatchString(p), ""
	}
	return false, "path matcher"
}

// headerMatches applies one header matcher; ":method" and ":authority"
// are the request's method and host.
func headerMatches(h *routev3.HeaderMatcher, req Request) (bool, string) {
	value, present := headerValue(h.GetName(), req)
	var ok bool
	switch spec := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_PresentMatch:
		ok = present == spec.PresentMatch
	case *routev3.HeaderMatcher_StringMatch:
		var unknown string
		ok, unknown = stringMatches(spec.StringMatch, value)
		ok = ok && present
		if unknown != "" {
			return false, unknown
		}
	case *routev3.HeaderMatcher_ExactMatch:
		ok = present && value == spec.ExactMatch
	case *routev3.HeaderMatcher_PrefixMatch:
		ok = present && strings.HasPrefix(value, spec.PrefixMatch)
	default:
		return false, "header matcher on " + h.GetName()
	}
	if h.GetInvertMatch() {
		ok = !ok
	}
	return ok, ""
}

func headerValue(name string, req Request) (string, bool) {
	switch strings.ToLower(name) {
	case ":method":
		return methodOr(req.Method), true
	case ":authority", "host":
		return req.Host, true
	case ":path":
		return req.Path, true
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func stringMatches(m *matcherv3.StringMatcher, value string) (bool, string) {
	v, fold := value, func(s string) string { return s }
	if m.GetIgnoreCase() {
		fold = strings.ToLower
		v = strings.ToLower(value)
	}
	switch spec := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return v == fold(spec.Exact), ""
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(v, fold(spec.Prefix)), ""
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(v, fold(spec.Suffix)), ""
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(v, fold(spec.Contains)), ""
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + spec.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return false, "regex " + spec.SafeRegex.GetRegex()
		}
		return re.MatchString(value), ""
	}
	return false, "string matcher"
}

// setAction records where r sends the request.
func setAction(out *Result, r *routev3.Route) {
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		switch c := a.Route.GetClusterSpecifier().(type) {
		case *routev3.RouteAction_Cluster:
			out.Clusters = []WeightedCluster{{Name: c.Cluster, Weight: 100}}
		case *routev3.RouteAction_WeightedClusters:
			for _, w := range c.WeightedClusters.GetClusters() {
				out.Clusters = append(out.Clusters, WeightedCluster{Name: w.GetName(), Weight: w.GetWeight().GetValue()})
			}
		}
	case *routev3.Route_DirectResponse:
		out.DirectResponse = a.DirectResponse.GetStatus()
	case *routev3.Route_Redirect:
		out.Redirect = redirectTarget(a.Redirect)
	}
}

func redirectTarget(r *routev3.RedirectAction) string {
	host := r.GetHostRedirect()
	path := r.GetPathRedirect()
	if host == "" && path == "" {
		return "(same URL, " + r.GetResponseCode().String() + ")"
	}
	return host + path
}
