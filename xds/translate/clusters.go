package translate

import (
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// sharedClusters gives the clusters every proxy of the same outbound view
// has: outbound ones for every service port in scope (and every subset of
// the DestinationRules that apply), taken from units (already validated),
// with the load assignments of the EDS clusters; and, as own (not yet
// validated), the SNI-DNAT clusters of gateways and the fixed pass-through
// and black-hole clusters. The proxy's inbound clusters (see
// inboundClusters) come on top.
func sharedClusters(idx *Index, p *model.Proxy, scope *Scope, units unitSource) (fromUnits, own *Resources, err error) {
	fromUnits, own = &Resources{}, &Resources{}
	for _, svc := range outboundServices(scope, p.Namespace) {
		for _, port := range svc.Ports {
			u := units.portClusters(portClustersInputOf(idx, p, svc, port)).res
			if u.err != nil {
				return nil, nil, u.err
			}
			fromUnits.Clusters = append(fromUnits.Clusters, u.clusters...)
			fromUnits.Endpoints = append(fromUnits.Endpoints, u.endpoints...)
		}
	}
	own.Clusters, own.Endpoints = sniDNATClusters(idx, p, fromUnits.Clusters, fromUnits.Endpoints)
	own.Clusters = append(own.Clusters, fixedClusters(p)...)
	return fromUnits, own, nil
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
