package translate

import (
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// unixPrefix marks an endpoint address that is a Unix domain socket path.
const unixPrefix = "unix://"

// loadAssignment groups endpoints by locality, localities sorted by name.
// Each locality weighs the sum of its endpoints' weights, so a locality's
// share follows its endpoints when locality-weighted balancing is on.
func loadAssignment(clusterName string, eps []*discovery.Endpoint) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: clusterName}
	byLocality := map[string]*endpointv3.LocalityLbEndpoints{}
	for _, ep := range eps {
		group := byLocality[ep.Locality]
		if group == nil {
			group = &endpointv3.LocalityLbEndpoints{Locality: parseLocality(ep.Locality), LoadBalancingWeight: wrapperspb.UInt32(0)}
			byLocality[ep.Locality] = group
			cla.Endpoints = append(cla.Endpoints, group)
		}
		lbEp := lbEndpoint(ep)
		group.LbEndpoints = append(group.LbEndpoints, lbEp)
		group.LoadBalancingWeight.Value += lbEp.GetLoadBalancingWeight().GetValue()
	}
	sort.SliceStable(cla.Endpoints, func(i, j int) bool {
		return localityKey(cla.Endpoints[i].Locality) < localityKey(cla.Endpoints[j].Locality)
	})
	return cla
}

// lbEndpoint is one endpoint with its weight (1 when unset), marked for
// automatic mTLS when it has a sidecar.
func lbEndpoint(ep *discovery.Endpoint) *endpointv3.LbEndpoint {
	weight := ep.Weight
	if weight == 0 {
		weight = 1
	}
	lb := &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
			Endpoint: &endpointv3.Endpoint{Address: endpointAddress(ep.Address, ep.Port)},
		},
		LoadBalancingWeight: wrapperspb.UInt32(weight),
	}
	if hasSidecar(ep) {
		lb.Metadata = tlsModeMetadata
	}
	return lb
}

// endpointAddress is a socket address, or a pipe for "unix://PATH".
func endpointAddress(addr string, port uint32) *corev3.Address {
	if path, ok := strings.CutPrefix(addr, unixPrefix); ok {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}}
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// parseLocality reads "region/zone/subzone" (any part may be missing); the
// empty locality is nil.
func parseLocality(s string) *corev3.Locality {
	if s == "" {
		return nil
	}
	parts := strings.SplitN(s, "/", 3)
	parts = append(parts, "", "")
	return &corev3.Locality{Region: parts[0], Zone: parts[1], SubZone: parts[2]}
}

func localityKey(l *corev3.Locality) string {
	return l.GetRegion() + "/" + l.GetZone() + "/" + l.GetSubZone()
}

// subsetEndpoints keeps the endpoints carrying every label of a subset.
func subsetEndpoints(eps []*discovery.Endpoint, labels map[string]string) []*discovery.Endpoint {
	var out []*discovery.Endpoint
	for _, ep := range eps {
		if labelsMatch(labels, ep.Labels) {
			out = append(out, ep)
		}
	}
	return out
}

// loadAssignmentOf is the load assignment of one address.
func loadAssignmentOf(clusterName, address string, port uint32) *endpointv3.ClusterLoadAssignment {
	return loadAssignment(clusterName, []*discovery.Endpoint{{Address: address, Port: port}})
}
