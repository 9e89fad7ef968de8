package xdsload

import (
	"fmt"
	"strings"
)

// These checks read a proxy's configuration as Envoy would use it. They
// rely on Istio's names: clusters "outbound|PORT|SUBSET|HOST" and virtual
// hosts whose domains include the service's FQDN.

// outboundCluster is Istio's name of the cluster of a service subset.
func outboundCluster(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// endpointsOf returns the endpoint addresses the proxy holds for a
// cluster, following the cluster's EDS service name, or nil when it holds
// no assignment for it.
func endpointsOf(s configState, cluster string) []string {
	c := s.get(typeCDS, cluster)
	if c == nil || len(c.refs[typeEDS]) == 0 {
		return nil
	}
	d := s.get(typeEDS, c.refs[typeEDS][0])
	if d == nil {
		return nil
	}
	if d.endpoints == nil {
		return []string{} // an assignment without endpoints
	}
	return d.endpoints
}

// hasAnyAddress reports whether one of the endpoints is at one of addrs.
func hasAnyAddress(endpoints []string, addrs map[string]bool) bool {
	for _, a := range endpoints {
		if a != "" && addrs[a] {
			return true
		}
	}
	return false
}

// virtualHostsFor lists the virtual hosts, in every route configuration the
// proxy holds, that serve host (its FQDN or FQDN:PORT).
func virtualHostsFor(s configState, host string) []vhostSummary {
	var out []vhostSummary
	for _, d := range s.resources[typeRDS].all() {
		for _, vh := range d.vhosts {
			if servesHost(vh, host) {
				out = append(out, vh)
			}
		}
	}
	return out
}

func servesHost(vh vhostSummary, host string) bool {
	for _, d := range vh.domains {
		if d == host || strings.HasPrefix(d, host+":") {
			return true
		}
	}
	return false
}

// clusterWeights returns the weight of cluster in each weighted route of the
// virtual hosts.
func clusterWeights(vhosts []vhostSummary, cluster string) []uint32 {
	var out []uint32
	for _, vh := range vhosts {
		for _, wc := range vh.weights {
			if wc.cluster == cluster {
				out = append(out, wc.weight)
			}
		}
	}
	return out
}

// seesNamespace reports whether the proxy has any cluster of a service of
// namespace ns: a service added there will concern it too.
func seesNamespace(s configState, ns string) bool {
	suffix := "." + ns + ".svc.cluster.local"
	for name := range s.resources[typeCDS].all() {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// differsWarm reports whether any accepted resource (secrets included)
// changed between two snapshots of one proxy's configuration, and every
// secret the new configuration references has arrived: a cluster or
// listener waiting for its secrets is not in use yet.
func differsWarm(before, after configState) bool {
	return after.secretsWarm() && differs(before, after)
}

// differs reports whether any accepted resource changed between two
// snapshots of one proxy's configuration.
func differs(before, after configState) bool {
	for _, t := range allTypes {
		if !sameResources(before.resources[t], after.resources[t]) {
			return true
		}
	}
	return false
}

func sameResources(a, b *resourceMap) bool {
	if a == b {
		return true
	}
	if a.len() != b.len() {
		return false
	}
	for name, da := range a.all() {
		db := b.get(name)
		if db == nil || (da != db && da.digest != db.digest) {
			return false
		}
	}
	return true
}
