package translate

import (
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// sharedClusters returns the clusters every proxy of the same outbound view
// has — outbound ones for every service port in scope (and every subset of
// the DestinationRules that apply), and the fixed pass-through and
// black-hole clusters — with the load assignments of the EDS clusters. Both
// lists are sorted by name. The proxy's inbound clusters (see
// inboundClusters) come on top.
//
// The clusters of each service port come from units, already validated;
// own are those built here (SNI-DNAT and fixed clusters), not yet
// validated.
func sharedClusters(idx *Index, p *model.Proxy, scope *Scope, units unitSource) (all, own *Resources, err error) {
	all, own = &Resources{}, &Resources{}
	for _, svc := range outboundServices(scope, p.Namespace) {
		for _, port := range svc.Ports {
			u := units.portClusters(portClustersInputOf(idx, p, svc, port))
			if u.err != nil {
				return nil, nil, u.err
			}
			all.Clusters = append(all.Clusters, u.clusters...)
			all.Endpoints = append(all.Endpoints, u.endpoints...)
		}
	}
	own.Clusters, own.Endpoints = sniDNATClusters(idx, p, all.Clusters, all.Endpoints)
	own.Clusters = append(own.Clusters, fixedClusters(p)...)
	all.Clusters = append(all.Clusters, own.Clusters...)
	all.Endpoints = append(all.Endpoints, own.Endpoints...)
	sort.SliceStable(all.Clusters, func(i, j int) bool { return all.Clusters[i].Name < all.Clusters[j].Name })
	sort.SliceStable(all.Endpoints, func(i, j int) bool { return all.Endpoints[i].ClusterName < all.Endpoints[j].ClusterName })
	all.Clusters = uniqueByName(all.Clusters, (*clusterv3.Cluster).GetName)
	all.Endpoints = uniqueByName(all.Endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName)
	return all, own, nil
}

// uniqueByName drops later entries of a sorted list whose name repeats.
func uniqueByName[T any](list []T, name func(T) string) []T {
	out := list[:0]
	for _, v := range list {
		if len(out) == 0 || name(v) != name(out[len(out)-1]) {
			out = append(out, v)
		}
	}
	return out
}

// outboundServices picks one service per hostname, since cluster names carry
// only the hostname: the one in the proxy's namespace if there is one, else
// the first in catalog order (by namespace).
func outboundServices(scope *Scope, proxyNS string) []*discovery.Service {
	chosen := map[string]*discovery.Service{}
	var order []string
	for _, svc := range scope.Services() {
		prev, ok := chosen[svc.Hostname]
		switch {
		case !ok:
			chosen[svc.Hostname] = svc
			order = append(order, svc.Hostname)
		case prev.Namespace != proxyNS && svc.Namespace == proxyNS:
			chosen[svc.Hostname] = svc
		}
	}
	out := make([]*discovery.Service, 0, len(order))
	for _, h := range order {
		out = append(out, chosen[h])
	}
	return out
}
