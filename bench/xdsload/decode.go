package xdsload

import (
	"errors"
	"fmt"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The xDS types a sidecar subscribes to, in the order Envoy asks for them.
const (
	typeCDS = resource.ClusterType
	typeEDS = resource.EndpointType
	typeLDS = resource.ListenerType
	typeRDS = resource.RouteType
)

// typeNames are the short names used in reports.
var typeNames = map[string]string{typeCDS: "CDS", typeEDS: "EDS", typeLDS: "LDS", typeRDS: "RDS"}

// decoded is one resource as a sidecar accepted it. Decoded resources are
// immutable and shared by every proxy that received the same bytes.
type decoded struct {
	name string
	msg  proto.Message
	// refs are the names the resource makes the proxy subscribe to: EDS
	// service names of an EDS cluster, RDS names of a listener.
	refs []string
}

// decodeCache maps (type URL, serialized bytes) to the decoded resource or
// the reason it was rejected, so that thousands of proxies receiving the same
// resource decode and validate it once.
type decodeCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]map[string]decodeResult // by type URL, then bytes
}

type decodeResult struct {
	res *decoded
	err error
}

// maxCacheEntries bounds the cache; it is cleared when full.
const maxCacheEntries = 1 << 18

func newDecodeCache() *decodeCache {
	return &decodeCache{entries: map[string]map[string]decodeResult{}}
}

// decode decodes and validates one resource of type typeURL.
func (c *decodeCache) decode(typeURL string, a *anypb.Any) (*decoded, error) {
	if a == nil {
		return nil, errors.New("empty resource")
	}
	if a.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("resource of type %s in a %s response", a.GetTypeUrl(), typeNames[typeURL])
	}
	c.mu.Lock()
	r, ok := c.entries[typeURL][string(a.GetValue())] // no copy of the bytes
	c.mu.Unlock()
	if ok {
		return r.res, r.err
	}
	res, err := decodeResource(typeURL, a)
	c.store(typeURL, a.GetValue(), decodeResult{res, err})
	return res, err
}

func (c *decodeCache) store(typeURL string, value []byte, r decodeResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.size >= maxCacheEntries {
		c.entries, c.size = map[string]map[string]decodeResult{}, 0
	}
	byValue := c.entries[typeURL]
	if byValue == nil {
		byValue = map[string]decodeResult{}
		c.entries[typeURL] = byValue
	}
	byValue[string(value)] = r
	c.size++
}

// decodeResource unmarshals, validates (including nested typed configs
// Isthmus knows) and extracts the references of one resource.
func decodeResource(typeURL string, a *anypb.Any) (*decoded, error) {
	msg, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeNames[typeURL], err)
	}
	name := resourceName(msg)
	if err := validateDeep(msg); err != nil {
		return nil, fmt.Errorf("%s %q: %w", typeNames[typeURL], name, err)
	}
	refs, err := references(msg)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", typeNames[typeURL], name, err)
	}
	return &decoded{name: name, msg: msg, refs: refs}, nil
}

// resourceName is the name Envoy keys a resource by.
func resourceName(msg proto.Message) string {
	switch m := msg.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return m.GetClusterName()
	case interface{ GetName() string }:
		return m.GetName()
	}
	return ""
}

// references lists what a resource makes Envoy subscribe to next.
func references(msg proto.Message) ([]string, error) {
	switch m := msg.(type) {
	case *clusterv3.Cluster:
		return edsReference(m), nil
	case *listenerv3.Listener:
		return rdsReferences(m)
	}
	return nil, nil
}

// edsReference is the EDS service name of an EDS cluster: its
// eds_cluster_config.service_name, else its own name.
func edsReference(c *clusterv3.Cluster) []string {
	if c.GetType() != clusterv3.Cluster_EDS {
		return nil
	}
	if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
		return []string{n}
	}
	return []string{c.GetName()}
}

// rdsReferences lists the route configuration names the listener's HTTP
// connection managers fetch over RDS.
func rdsReferences(l *listenerv3.Listener) ([]string, error) {
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains[:len(chains):len(chains)], l.GetDefaultFilterChain())
	}
	var names []string
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc.GetTypeUrl() != hcmTypeURL {
				continue
			}
			hcm := &hcmv3.HttpConnectionManager{}
			if err := tc.UnmarshalTo(hcm); err != nil {
				return nil, fmt.Errorf("filter %q: %w", f.GetName(), err)
			}
			if rds := hcm.GetRds(); rds != nil {
				names = append(names, rds.GetRouteConfigName())
			}
		}
	}
	return names, nil
}

var hcmTypeURL = resource.APITypePrefix + string((&hcmv3.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName())
