package translate

import (
	"maps"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

// delegateVirtualService finds the VirtualService a root rule delegates to:
// "name" in namespace ns (the root's when the delegate names none), if it
// is exported to the root's namespace.
func (idx *Index) delegateVirtualService(d *networking.Delegate, rootNS string) *VirtualServiceRef {
	ns := d.GetNamespace()
	if ns == "" {
		ns = rootNS
	}
	vs := idx.virtualServiceNamed(ns, d.GetName())
	if vs == nil || !exportedTo(vs.Spec.GetExportTo(), ns, rootNS) {
		return nil
	}
	return vs
}

// appendDelegateRoutes adds, in place of a root rule that delegates, the
// routes of the delegate VirtualService, as Istio merges them: each
// delegate rule keeps its actions, and its match blocks are narrowed by the
// root rule's; a delegate block that conflicts with every root block is
// dropped. It reports whether a catch-all was reached. A missing delegate
// adds nothing.
func (c *routeContext) appendDelegateRoutes(out *[]*routev3.Route, root *VirtualServiceRef, rule *networking.HTTPRoute) bool {
	delegate := c.idx.delegateVirtualService(rule.GetDelegate(), root.Object.Namespace)
	if delegate == nil {
		return false
	}
	for _, dr := range delegate.Spec.GetHttp() {
		for _, rm := range matchBlocks(rule) {
			for _, dm := range matchBlocks(dr) {
				m, ok := mergeMatch(rm, dm)
				if !ok {
					continue
				}
				r := c.translateRoute(delegate, dr, m)
				if r == nil {
					continue
				}
				*out = append(*out, r)
				if isCatchAllRoute(r) {
					return true
				}
			}
		}
	}
	return false
}

// matchBlocks lists a rule's match blocks; nil stands for "everything".
func matchBlocks(rule *networking.HTTPRoute) []*networking.HTTPMatchRequest {
	if len(rule.GetMatch()) == 0 {
		return []*networking.HTTPMatchRequest{nil}
	}
	return rule.GetMatch()
}

// mergeMatch narrows a delegate's match block by the root's: the result
// requires both. It fails when they cannot both hold, or when the
// delegate's URI does not lie within the root's (Istio requires a
// delegate's paths to stay under its root's).
func mergeMatch(root, d *networking.HTTPMatchRequest) (*networking.HTTPMatchRequest, bool) {
	if root == nil {
		return d, true
	}
	if d == nil {
		return root, true
	}
	out := proto.Clone(d).(*networking.HTTPMatchRequest)
	ok := true
	out.Uri, ok = mergeURI(root.GetUri(), d.GetUri())
	for _, f := range []struct {
		dst          **networking.StringMatch
		parent, self *networking.StringMatch
	}{{&out.Scheme, root.GetScheme(), d.GetScheme()}, {&out.Method, root.GetMethod(), d.GetMethod()}, {&out.Authority, root.GetAuthority(), d.GetAuthority()}} {
		var fieldOK bool
		*f.dst, fieldOK = mergeExact(f.parent, f.self)
		ok = ok && fieldOK
	}
	var mapsOK [4]bool
	out.Headers, mapsOK[0] = mergeStringMatches(root.GetHeaders(), d.GetHeaders())
	out.QueryParams, mapsOK[1] = mergeStringMatches(root.GetQueryParams(), d.GetQueryParams())
	out.WithoutHeaders, mapsOK[2] = mergeStringMatches(root.GetWithoutHeaders(), d.GetWithoutHeaders())
	out.SourceLabels, mapsOK[3] = mergeLabels(root.GetSourceLabels(), d.GetSourceLabels())
	ok = ok && mapsOK[0] && mapsOK[1] && mapsOK[2] && mapsOK[3]
	if root.GetPort() != 0 {
		ok = ok && (d.GetPort() == 0 || d.GetPort() == root.GetPort())
		out.Port = root.GetPort()
	}
	if root.GetSourceNamespace() != "" {
		ok = ok && (d.GetSourceNamespace() == "" || d.GetSourceNamespace() == root.GetSourceNamespace())
		out.SourceNamespace = root.GetSourceNamespace()
	}
	if len(out.Gateways) == 0 {
		out.Gateways = root.GetGateways()
	}
	out.IgnoreUriCase = root.GetIgnoreUriCase() || d.GetIgnoreUriCase()
	if out.Name == "" {
		out.Name = root.GetName()
	}
	return out, ok
}

// mergeURI keeps the delegate's URI when it lies within the root's (an
// exact path or a prefix under the root's prefix, or the very same
// condition), else fails; with one of them unset, the other holds.
func mergeURI(root, d *networking.StringMatch) (*networking.StringMatch, bool) {
	switch {
	case root == nil:
		return d, true
	case d == nil:
		return root, true
	case proto.Equal(root, d):
		return d, true
	case root.GetPrefix() != "":
		within := (d.GetPrefix() != "" && strings.HasPrefix(d.GetPrefix(), root.GetPrefix())) ||
			(d.GetExact() != "" && strings.HasPrefix(d.GetExact(), root.GetPrefix()))
		return d, within
	}
	return nil, false
}

// mergeExact combines two conditions on one field: both must be the same
// when both are set.
func mergeExact(root, d *networking.StringMatch) (*networking.StringMatch, bool) {
	switch {
	case root == nil:
		return d, true
	case d == nil:
		return root, true
	}
	return d, proto.Equal(root, d)
}

func mergeStringMatches(root, d map[string]*networking.StringMatch) (map[string]*networking.StringMatch, bool) {
	if len(root) == 0 {
		return d, true
	}
	out := maps.Clone(d)
	if out == nil {
		out = map[string]*networking.StringMatch{}
	}
	for k, v := range root {
		if mine, ok := out[k]; ok && !proto.Equal(mine, v) {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

func mergeLabels(root, d map[string]string) (map[string]string, bool) {
	if len(root) == 0 {
		return d, true
	}
	out := maps.Clone(d)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range root {
		if mine, ok := out[k]; ok && mine != v {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}
