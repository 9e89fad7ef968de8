package xdsload

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
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
	typeSDS = resource.SecretType
)

// typeNames are the short names used in reports.
var typeNames = map[string]string{typeCDS: "CDS", typeEDS: "EDS", typeLDS: "LDS", typeRDS: "RDS", typeSDS: "SDS"}

// allTypes lists every type a sidecar may hold.
var allTypes = []string{typeCDS, typeEDS, typeLDS, typeRDS, typeSDS}

// decoded is what a sidecar keeps of one accepted resource: its name, the
// names it makes the proxy subscribe to, a digest of its content, and the
// few facts change detectors read. Decoded resources are immutable and
// shared by every proxy that received the same bytes.
type decoded struct {
	name string
	// digest identifies the content: two resources with the same digest
	// are equal (it hashes a deterministic re-encoding, so two encodings of
	// the same message have the same digest).
	digest digest
	// refs are the names the resource makes the proxy subscribe to, by
	// dependent type: the EDS service name of an EDS cluster, the RDS names
	// of a listener, the SDS secrets (fetched over ADS) of both.
	refs map[string][]string
	// endpoints are the socket addresses of an assignment's endpoints, one
	// per endpoint ("" for an endpoint without one).
	endpoints []string
	// vhosts summarise a route configuration's virtual hosts.
	vhosts []vhostSummary
}

// vhostSummary is what change detectors read of one virtual host.
type vhostSummary struct {
	domains []string
	weights []clusterWeight // of every weighted route, in order
}

type clusterWeight struct {
	cluster string
	weight  uint32
}

// checkType rejects a resource that is missing or not of the response's
// type.
func checkType(typeURL string, a rawAny) error {
	if !a.present {
		return errors.New("empty resource")
	}
	if string(a.typeURL) != typeURL {
		return fmt.Errorf("resource of type %s in a %s response", a.typeURL, typeNames[typeURL])
	}
	return nil
}

// decodeResource unmarshals, validates (including nested typed configs
// this package knows) and summarises one resource of type typeURL.
func decodeResource(typeURL string, a *anypb.Any) (*decoded, error) {
	msg, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", typeNames[typeURL], err)
	}
	name := resourceName(msg)
	found, err := inspect(msg)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", typeNames[typeURL], name, err)
	}
	d := &decoded{name: name, refs: references(msg, found)}
	if d.digest, err = digestOf(msg); err != nil {
		return nil, fmt.Errorf("%s %q: %w", typeNames[typeURL], name, err)
	}
	switch m := msg.(type) {
	case *endpointv3.ClusterLoadAssignment:
		d.endpoints = endpointAddresses(m)
	case *routev3.RouteConfiguration:
		d.vhosts = summariseVirtualHosts(m)
	}
	return d, nil
}

// digestOf hashes a deterministic encoding of msg.
func digestOf(msg proto.Message) (digest, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return digest{}, fmt.Errorf("re-encode: %w", err)
	}
	return digestBytes(b), nil
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

// references lists, by dependent type, what a resource makes Envoy
// subscribe to next; found is what inspecting it collected.
func references(msg proto.Message, found inspection) map[string][]string {
	refs := map[string][]string{}
	switch m := msg.(type) {
	case *clusterv3.Cluster:
		addRefs(refs, typeEDS, edsReference(m))
		addRefs(refs, typeSDS, found.secrets)
	case *listenerv3.Listener:
		addRefs(refs, typeRDS, found.routes)
		addRefs(refs, typeSDS, found.secrets)
	}
	if len(refs) == 0 {
		return nil
	}
	return refs
}

func addRefs(refs map[string][]string, typeURL string, names []string) {
	if len(names) > 0 {
		refs[typeURL] = names
	}
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

// endpointAddresses lists the socket address of each endpoint.
func endpointAddresses(cla *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, locality := range cla.GetEndpoints() {
		for _, lb := range locality.GetLbEndpoints() {
			out = append(out, lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
		}
	}
	return out
}

// summariseVirtualHosts keeps the domains and cluster weights of each
// virtual host.
func summariseVirtualHosts(rc *routev3.RouteConfiguration) []vhostSummary {
	out := make([]vhostSummary, 0, len(rc.GetVirtualHosts()))
	for _, vh := range rc.GetVirtualHosts() {
		s := vhostSummary{domains: vh.GetDomains()}
		for _, r := range vh.GetRoutes() {
			for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
				s.weights = append(s.weights, clusterWeight{cluster: wc.GetName(), weight: wc.GetWeight().GetValue()})
			}
		}
		out = append(out, s)
	}
	return out
}
