package server

import (
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// sotwResponse is the state-of-the-world response owed to a request for the
// proxy's resources served, or nil when the stream is up to date.
func sotwResponse(served *proxyResources, req *cache.Request, sub cache.Subscription) cache.Response {
	t := served.types[req.GetTypeUrl()]
	version := ""
	if t != nil {
		version = t.version
	}
	if knownVersion(req, sub) == version && !hasUnsent(t, sub) {
		return nil
	}
	if sub.IsWildcard() {
		return &cache.PassthroughResponse{
			Request:           req,
			DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: version, Resources: t.anys(), TypeUrl: req.GetTypeUrl()},
			ReturnedResources: map[string]string{sentAll: version},
		}
	}
	var resources []*anypb.Any
	subscribed := sub.SubscribedResources()
	returned := make(map[string]string, len(subscribed))
	for _, r := range typeList(t) {
		if _, ok := subscribed[r.name]; ok {
			resources = append(resources, r.any)
			returned[r.name] = version
		}
	}
	return &cache.PassthroughResponse{
		Request:           req,
		DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: version, Resources: resources, TypeUrl: req.GetTypeUrl()},
		ReturnedResources: returned,
	}
}

// sentAll is the name under which a state-of-the-world stream with a
// wildcard subscription records that it was sent every resource of a type,
// at the version recorded: one entry instead of one per resource, for the
// CDS and LDS state of every stream. No resource is named "". Should the
// subscription turn to names, go-control-plane drops the entry, since no
// resource of that name is subscribed.
const sentAll = ""

// knownVersion is the version a state-of-the-world stream holds, as far as
// sending goes: the one its request carries, except after a rejection,
// where it is the rejected one, so that it is not sent again.
func knownVersion(req *cache.Request, sub cache.Subscription) string {
	if req.GetErrorDetail() != nil {
		for _, v := range sub.ReturnedResources() {
			return v // every resource returned carries the response's version
		}
	}
	return req.GetVersionInfo()
}

// hasUnsent reports whether the stream is owed a resource it was never
// sent: for a wildcard subscription, when it was never sent the whole type
// (see sentAll), else when a subscribed resource exists that it was not
// sent.
func hasUnsent(t *typeResources, sub cache.Subscription) bool {
	returned := sub.ReturnedResources()
	if sub.IsWildcard() {
		_, ok := returned[sentAll]
		return !ok
	}
	for name := range sub.SubscribedResources() {
		if _, ok := returned[name]; !ok && t.get(name) != nil {
			return true
		}
	}
	return false
}

// deltaResponse is the delta response owed to a request: the resources
// whose version differs from what the stream was sent, and those it was
// sent that are gone. Nil when there is nothing to say, except for the
// first request of a wildcard subscription, which Envoy needs answered
// even when empty.
func deltaResponse(served *proxyResources, req *cache.DeltaRequest, sub cache.Subscription) cache.DeltaResponse {
	t := served.types[req.GetTypeUrl()]
	var d deltaDiff
	if sub.IsWildcard() {
		d = wildcardDiff(t, sub.ReturnedResources())
	} else {
		d = subscribedDiff(t, sub)
	}
	if len(d.resources) == 0 && len(d.removed) == 0 && (!sub.IsWildcard() || req.GetResponseNonce() != "") {
		return nil
	}
	version := ""
	if t != nil {
		version = t.version
	}
	return &cache.DeltaPassthroughResponse{
		DeltaRequest:   req,
		NextVersionMap: d.next,
		DeltaDiscoveryResponse: &discoveryv3.DeltaDiscoveryResponse{
			SystemVersionInfo: version,
			Resources:         d.resources,
			RemovedResources:  d.removed,
			TypeUrl:           req.GetTypeUrl(),
		},
	}
}

// deltaDiff is what a delta stream is owed and what it will then hold.
type deltaDiff struct {
	resources []*discoveryv3.Resource
	removed   []string
	next      map[string]string // name → version the stream holds after the response
}

// wildcardDiff is what a wildcard subscription that holds returned is
// owed: every resource of t it does not hold at its version, and the
// removal of those it holds that are gone.
func wildcardDiff(t *typeResources, returned map[string]string) deltaDiff {
	list := typeList(t)
	d := deltaDiff{next: make(map[string]string, len(list))}
	held := 0
	for _, r := range list {
		d.next[r.name] = r.version
		v, ok := returned[r.name]
		if ok {
			held++
		}
		if !ok || v != r.version {
			d.resources = append(d.resources, r.deltaResource())
		}
	}
	if held < len(returned) {
		d.removed = gone(t, returned)
	}
	return d
}

// subscribedDiff is what a subscription to the names sub subscribes is
// owed: those of t's resources it does not hold at their version, in name
// order, and the removal of those it holds that are gone.
func subscribedDiff(t *typeResources, sub cache.Subscription) deltaDiff {
	returned, subscribed := sub.ReturnedResources(), sub.SubscribedResources()
	d := deltaDiff{next: make(map[string]string, len(subscribed))}
	found := 0
	for _, r := range typeList(t) {
		if _, ok := subscribed[r.name]; !ok {
			continue
		}
		found++
		if v, held := returned[r.name]; !held || v != r.version {
			d.resources = append(d.resources, r.deltaResource())
		}
		d.next[r.name] = r.version
	}
	if found < len(subscribed) {
		d.removed = slices.DeleteFunc(gone(t, returned), func(name string) bool {
			_, ok := subscribed[name]
			return !ok
		})
	}
	return d
}

// gone lists, sorted, the names in returned that t has no resource of.
func gone(t *typeResources, returned map[string]string) []string {
	var out []string
	for name := range returned {
		if t.get(name) == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// typeList is the resources of t; none when the proxy has no such type.
func typeList(t *typeResources) []*preparedResource {
	if t == nil {
		return nil
	}
	return t.list
}
