package xdsload

import (
	"fmt"
	"strings"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
)

// These checks read a proxy's configuration as Envoy would use it. They
// rely on Istio's names: clusters "outbound|PORT|SUBSET|HOST" and virtual
// hosts whose domains include the service's FQDN.

// outboundCluster is Istio's name of the cluster of a service subset.
func outboundCluster(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// endpointsOf returns the load assignment the proxy holds for a cluster,
// following the cluster's EDS service name, or nil.
func endpointsOf(s configState, cluster string) *endpointv3.ClusterLoadAssignment {
	c := s.get(typeCDS, cluster)
	if c == nil || len(c.refs) == 0 {
		return nil
	}
	d := s.get(typeEDS, c.refs[0])
	if d == nil {
		return nil
	}
	return d.msg.(*endpointv3.ClusterLoadAssignment)
}

// hasAnyAddress reports whether the assignment has an endpoint at one of
// addrs.
func hasAnyAddress(cla *endpointv3.ClusterLoadAssignment, addrs map[string]bool) bool {
	for _, locality := range cla.GetEndpoints() {
		for _, lb := range locality.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa != nil && addrs[sa.GetAddress()] {
				return true
			}
		}
	}
	return false
}

// endpointCount is the number of endpoints of an assignment.
func endpointCount(cla *endpointv3.ClusterLoadAssignment) int {
	n := 0
	for _, locality := range cla.GetEndpoints() {
		n += len(locality.GetLbEndpoints())
	}
	return n
}

// virtualHostsFor lists the virtual hosts, in every route configuration the
// proxy holds, that serve host (its FQDN or FQDN:PORT).
func virtualHostsFor(s configState, host string) []*routev3.VirtualHost {
	var out []*routev3.VirtualHost
	for _, d := range s.resources[typeRDS] {
		for _, vh := range d.msg.(*routev3.RouteConfiguration).GetVirtualHosts() {
			if servesHost(vh, host) {
				out = append(out, vh)
			}
		}
	}
	return out
}

func servesHost(vh *routev3.VirtualHost, host string) bool {
	for _, d := range vh.GetDomains() {
		if d == host || strings.HasPrefix(d, host+":") {
			return true
		}
	}
	return false
}

// clusterWeights returns the weight of cluster in each weighted route of the
// virtual hosts.
func clusterWeights(vhosts []*routev3.VirtualHost, cluster string) []uint32 {
	var out []uint32
	for _, vh := range vhosts {
		for _, r := range vh.GetRoutes() {
			for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
				if wc.GetName() == cluster {
					out = append(out, wc.GetWeight().GetValue())
				}
			}
		}
	}
	return out
}

// seesNamespace reports whether the proxy has any cluster of a service of
// namespace ns: a service added there will concern it too.
func seesNamespace(s configState, ns string) bool {
	suffix := "." + ns + ".svc.cluster.local"
	for name := range s.resources[typeCDS] {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// differs reports whether any accepted resource changed between two
// snapshots of one proxy's configuration.
func differs(before, after configState) bool {
	for _, t := range []string{typeCDS, typeEDS, typeLDS, typeRDS} {
		if !sameResources(before.resources[t], after.resources[t]) {
			return true
		}
	}
	return false
}

func sameResources(a, b map[string]*decoded) bool {
	if len(a) != len(b) {
		return false
	}
	for name, da := range a {
		db, ok := b[name]
		if !ok {
			return false
		}
		if da != db && !proto.Equal(da.msg, db.msg) {
			return false
		}
	}
	return true
}
