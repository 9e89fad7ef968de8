package server

import (
	"maps"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// sotwResponse is the state-of-the-world response owed to a request for the
// proxy's resources served, or nil when the stream is up to date. Types a
// proxy subscribes to by name (EDS, RDS, SDS) are not full state in the
// xDS protocol (a resource left out of a response is not removed), so
// their responses carry only the resources the stream was not sent at
// their version: an endpoint change sends one load assignment, not all.
func sotwResponse(served *proxyResources, req *cache.Request, sub cache.Subscription) cache.Response {
	t := served.types[req.GetTypeUrl()]
	version := t.versionOrEmpty()
	if !sub.IsWildcard() {
		return namedResponse(t, req, sub)
	}
	if knownVersion(req, sub) == version && !hasUnsent(t, sub) {
		return nil
	}
	return &cache.PassthroughResponse{
		Request:           req,
		DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: version, Resources: t.anys(), TypeUrl: req.GetTypeUrl()},
		ReturnedResources: map[string]string{sentAll: version},
	}
}

// namedResponse is sotwResponse for a subscription to names: the
// subscribed resources of t the stream was not sent at their version (one
// it rejected is not sent again until it changes). With none, the stream
// is still told t's version when it holds another (a resource it does not
// name changed, or it waits for its first answer), unless it is rejecting
// a response.
func namedResponse(t *typeResources, req *cache.Request, sub cache.Subscription) cache.Response {
	subscribed, returned := sub.SubscribedResources(), sub.ReturnedResources()
	var owed []*preparedResource
	for _, r := range typeList(t) {
		if v, sent := returned[r.name]; v != r.version || !sent {
			if _, ok := subscribed[r.name]; ok {
				owed = append(owed, r)
			}
		}
	}
	if len(owed) == 0 && (req.GetErrorDetail() != nil || req.GetVersionInfo() == t.versionOrEmpty()) {
		return nil
	}
	return &cache.PassthroughResponse{
		Request:           req,
		DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: t.versionOrEmpty(), Resources: anysOf(owed), TypeUrl: req.GetTypeUrl()},
		ReturnedResources: withSent(returned, owed),
	}
}

// withSent is what a stream that was sent returned holds once sent owed
// too: returned itself when owed is empty (the stream's map is never
// modified, go-control-plane replaces it).
func withSent(returned map[string]string, owed []*preparedResource) map[string]string {
	if len(owed) == 0 {
		return returned
	}
	next := maps.Clone(returned)
	if next == nil {
		next = make(map[string]string, len(owed))
	}
	for _, r := range owed {
		next[r.name] = r.version
	}
	return next
}

func anysOf(list []*preparedResource) []*anypb.Any {
	out := make([]*anypb.Any, len(list))
	for i, r := range list {
		out[i] = r.any
	}
	return out
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

// typeList is the resources of t; none when the proxy has no such type.
func typeList(t *typeResources) []*preparedResource {
	if t == nil {
		return nil
	}
	return t.list
}
