package server

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// sotwResponse is the state-of-the-world response owed to a request for the
// proxy's resources served, or nil when the stream is up to date.
func sotwResponse(served *proxyResources, req *cache.Request, sub cache.Subscription) cache.Response {
	t := served.types[req.GetTypeUrl()]
	version := t.versionOrEmpty()
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

// typeList is the resources of t; none when the proxy has no such type.
func typeList(t *typeResources) []*preparedResource {
	if t == nil {
		return nil
	}
	return t.list
}
