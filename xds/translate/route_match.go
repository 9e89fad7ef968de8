package translate

import (
	"sort"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// Pseudo-headers a VirtualService match can name through dedicated fields.
const (
	headerMethod    = ":method"
	headerAuthority = ":authority"
	headerScheme    = ":scheme"
)

// routeMatch translates one VirtualService match block; nil matches every
// request (prefix "/").
func routeMatch(m *networking.HTTPMatchRequest) *routev3.RouteMatch {
	out := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if m == nil {
		return out
	}
	applyURIMatch(out, m.GetUri())
	if m.GetIgnoreUriCase() {
		out.CaseSensitive = wrapperspb.Bool(false)
	}
	out.Headers = headerMatchers(m)
	out.QueryParameters = queryMatchers(m.GetQueryParams())
	return out
}

func applyURIMatch(out *routev3.RouteMatch, uri *networking.StringMatch) {
	switch t := uri.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: t.Exact}
	case *networking.StringMatch_Prefix:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: t.Prefix}
	case *networking.StringMatch_Regex:
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: t.Regex}}
	}
}

// headerMatchers gives the header conditions sorted by name (headers and
// withoutHeaders), followed by method, authority and scheme, as Istio orders
// them.
func headerMatchers(m *networking.HTTPMatchRequest) []*routev3.HeaderMatcher {
	var out []*routev3.HeaderMatcher
	for _, name := range orderedKeys(m.GetHeaders()) {
		out = append(out, headerMatcher(name, m.GetHeaders()[name]))
	}
	for _, name := range orderedKeys(m.GetWithoutHeaders()) {
		out = append(out, absentHeaderMatcher(name, m.GetWithoutHeaders()[name]))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if m.GetMethod() != nil {
		out = append(out, headerMatcher(headerMethod, m.GetMethod()))
	}
	if m.GetAuthority() != nil {
		out = append(out, headerMatcher(headerAuthority, m.GetAuthority()))
	}
	if m.GetScheme() != nil {
		out = append(out, headerMatcher(headerScheme, m.GetScheme()))
	}
	return out
}

func headerMatcher(name string, sm *networking.StringMatch) *routev3.HeaderMatcher {
	out := &routev3.HeaderMatcher{Name: name}
	if isPresenceMatch(sm) {
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		return out
	}
	out.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(sm)}
	return out
}

// absentHeaderMatcher inverts a match; a header that is missing counts as
// empty so that "without header x: exact v" also admits requests without x.
func absentHeaderMatcher(name string, sm *networking.StringMatch) *routev3.HeaderMatcher {
	out := headerMatcher(name, sm)
	out.InvertMatch = true
	if !isPresenceMatch(sm) {
		out.TreatMissingHeaderAsEmpty = true
	}
	return out
}

func queryMatchers(params map[string]*networking.StringMatch) []*routev3.QueryParameterMatcher {
	names := orderedKeys(params)
	out := make([]*routev3.QueryParameterMatcher, 0, len(names))
	for _, name := range names {
		sm := params[name]
		qm := &routev3.QueryParameterMatcher{Name: name}
		if isPresenceMatch(sm) {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(sm)}
		}
		out = append(out, qm)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// isPresenceMatch is true for a match that only asks for presence: empty,
// an empty prefix, or the regex "*" (which Istio reads as "any value").
func isPresenceMatch(sm *networking.StringMatch) bool {
	switch t := sm.GetMatchType().(type) {
	case nil:
		return true
	case *networking.StringMatch_Regex:
		return t.Regex == "*"
	case *networking.StringMatch_Prefix:
		return t.Prefix == ""
	}
	return false
}

// stringMatcher converts an Istio StringMatch; nil when it has no type.
func stringMatcher(sm *networking.StringMatch) *matcherv3.StringMatcher {
	switch t := sm.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: t.Exact}}
	case *networking.StringMatch_Prefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: t.Prefix}}
	case *networking.StringMatch_Regex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: t.Regex},
		}}
	}
	return nil
}

// isCatchAllRoute reports whether a route matches every request, so that no
// route after it can be reached.
func isCatchAllRoute(r *routev3.Route) bool {
	m := r.GetMatch()
	catchAll := false
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		catchAll = ps.Prefix == "/"
	case *routev3.RouteMatch_SafeRegex:
		catchAll = ps.SafeRegex.GetRegex() == ".*"
	}
	return catchAll && len(m.GetHeaders()) == 0 && len(m.GetQueryParameters()) == 0
}

// orderedKeys returns the keys of m in order.
func orderedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
