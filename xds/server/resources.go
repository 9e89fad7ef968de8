package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// servedTypes are the xDS types Isthmus serves, in ADS order.
var servedTypes = []string{
	resource.ClusterType, resource.EndpointType, resource.ListenerType,
	resource.RouteType, resource.SecretType,
}

// typeLabels are the short names of servedTypes used in metrics and debug
// output.
var typeLabels = map[string]string{
	resource.ClusterType:  "cds",
	resource.EndpointType: "eds",
	resource.ListenerType: "lds",
	resource.RouteType:    "rds",
	resource.SecretType:   "sds",
}

// typeLabel names an xDS type for metrics: "cds", "eds"... or the type URL.
func typeLabel(typeURL string) string {
	if l, ok := typeLabels[typeURL]; ok {
		return l
	}
	return typeURL
}

// Errors that classify why resources could not be served.
var (
	errInvalid      = errors.New("invalid resources")
	errInconsistent = errors.New("inconsistent resources")
)

// proxyResources is what one proxy is served: the translated resources, the
// content version of each type and the cache snapshot built from them.
// Immutable once built.
type proxyResources struct {
	resources *translate.Resources
	versions  map[string]string // type URL → content version
	snapshot  *cache.Snapshot
}

// buildProxyResources versions res by content and checks that it can be
// served: every resource valid, names unique, references consistent.
func buildProxyResources(res *translate.Resources, digests *digestMemo) (*proxyResources, error) {
	pr := &proxyResources{resources: res, versions: map[string]string{}, snapshot: &cache.Snapshot{}}
	for typeURL, list := range resourcesByType(res) {
		version, err := digests.typeVersion(list)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errInvalid, typeLabel(typeURL), err)
		}
		pr.versions[typeURL] = version
		pr.snapshot.Resources[cache.GetResponseType(typeURL)] = cache.NewResources(version, list)
	}
	if err := pr.snapshot.Consistent(); err != nil {
		return nil, fmt.Errorf("%w: %w", errInconsistent, err)
	}
	return pr, nil
}

// resourcesByType lists res by xDS type; every served type is present.
func resourcesByType(res *translate.Resources) map[string][]types.Resource {
	return map[string][]types.Resource{
		resource.ClusterType:  asResources(res.Clusters),
		resource.EndpointType: asResources(res.Endpoints),
		resource.ListenerType: asResources(res.Listeners),
		resource.RouteType:    asResources(res.Routes),
		resource.SecretType:   asResources(res.Secrets),
	}
}

func asResources[T types.Resource](list []T) []types.Resource {
	out := make([]types.Resource, len(list))
	for i, r := range list {
		out[i] = r
	}
	return out
}

// changedTypes lists the types whose version differs between prev (nil
// before the first set) and next.
func changedTypes(prev, next *proxyResources) []string {
	var out []string
	for _, t := range servedTypes {
		if prev == nil || prev.versions[t] != next.versions[t] {
			out = append(out, t)
		}
	}
	return out
}

// typeVersion is the content version of one type's resources: a hash of
// every resource's name and digest, in name order.
func (m *digestMemo) typeVersion(list []types.Resource) (string, error) {
	type named struct {
		name string
		sum  [sha256.Size]byte
	}
	entries := make([]named, 0, len(list))
	for _, r := range list {
		d := m.digest(r)
		if d.err != nil {
			return "", d.err
		}
		entries = append(entries, named{cache.GetResourceName(r), d.sum})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	h := sha256.New()
	for i, e := range entries {
		if i > 0 && entries[i-1].name == e.name {
			return "", fmt.Errorf("duplicate name %q", e.name)
		}
		h.Write([]byte(e.name))
		h.Write([]byte{0})
		h.Write(e.sum[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}
