package translate

import (
	"math"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Failover priorities of a locality, seen from the proxy's; compacted to
// 0, 1, 2... once every locality has one.
const (
	prioritySameSubzone = iota
	prioritySameZone
	prioritySameRegion
	priorityFailoverRegion
	priorityOtherRegion
)

// applyLocality spreads a cluster's load over its endpoints' localities as
// Istio's locality load balancing does, for a proxy in proxyLocality:
//   - localityLbSetting.enabled false, or an unknown proxy locality:
//     nothing changes;
//   - distribute: the first rule whose "from" matches the proxy's locality
//     weighs each locality by the "to" entry it matches (a weight shared
//     by the localities one entry matches, in proportion to their own
//     weights); localities no entry matches get no traffic;
//   - otherwise, with outlier detection configured: failover by priority,
//     the proxy's subzone first, then its zone, its region, the regions
//     its failover rules name, and the rest.
func applyLocality(d *clusterDraft, cla *endpointv3.ClusterLoadAssignment, proxyLocality string, policy *networking.TrafficPolicy) {
	setting := policy.GetLoadBalancer().GetLocalityLbSetting()
	proxy, err := model.ParseLocality(proxyLocality)
	if cla == nil || proxy == nil || err != nil || (setting.GetEnabled() != nil && !setting.GetEnabled().GetValue()) {
		return
	}
	switch {
	case len(setting.GetDistribute()) > 0:
		if rule := distributeRuleFor(setting.GetDistribute(), proxy); rule != nil {
			distribute(cla, rule.GetTo())
			d.commonLbConfig().LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
				LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
			}
		}
	case policy.GetOutlierDetection() != nil:
		failover(cla, proxy, setting.GetFailover())
	}
}

func distributeRuleFor(rules []*networking.LocalityLoadBalancerSetting_Distribute, proxy *corev3.Locality) *networking.LocalityLoadBalancerSetting_Distribute {
	for _, r := range rules {
		if localityMatches(r.GetFrom(), proxy) {
			return r
		}
	}
	return nil
}

// distribute weighs the localities of cla by the "to" patterns, most
// specific pattern first; unmatched localities are dropped.
func distribute(cla *endpointv3.ClusterLoadAssignment, to map[string]uint32) {
	claimed := make([]bool, len(cla.Endpoints))
	for _, pattern := range patternsBySpecificity(to) {
		var matched []int
		total := uint64(0)
		for i, group := range cla.Endpoints {
			if !claimed[i] && localityMatches(pattern, group.GetLocality()) {
				matched = append(matched, i)
				total += uint64(max(group.GetLoadBalancingWeight().GetValue(), 1))
			}
		}
		for _, i := range matched {
			claimed[i] = true
			own := uint64(max(cla.Endpoints[i].GetLoadBalancingWeight().GetValue(), 1))
			weight := math.Ceil(float64(own*uint64(to[pattern])) / float64(total))
			cla.Endpoints[i].LoadBalancingWeight = wrapperspb.UInt32(uint32(max(weight, 1)))
		}
	}
	kept := cla.Endpoints[:0]
	for i, group := range cla.Endpoints {
		if claimed[i] && to[matchingPattern(to, group.GetLocality())] > 0 {
			kept = append(kept, group)
		}
	}
	cla.Endpoints = kept
}

// patternsBySpecificity orders locality patterns: fewer wildcards and more
// parts first, then by name.
func patternsBySpecificity(to map[string]uint32) []string {
	keys := make([]string, 0, len(to))
	for k := range to {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if sa, sb := specificity(a), specificity(b); sa != sb {
			return sb - sa
		}
		return strings.Compare(a, b)
	})
	return keys
}

func specificity(pattern string) int {
	n := 0
	for _, part := range strings.Split(pattern, "/") {
		if part == "*" {
			break
		}
		n++
	}
	return n
}

// matchingPattern is the most specific pattern of to matching l.
func matchingPattern(to map[string]uint32, l *corev3.Locality) string {
	for _, p := range patternsBySpecificity(to) {
		if localityMatches(p, l) {
			return p
		}
	}
	return ""
}

// failover gives each locality its priority as seen from the proxy.
func failover(cla *endpointv3.ClusterLoadAssignment, proxy *corev3.Locality, rules []*networking.LocalityLoadBalancerSetting_Failover) {
	var failoverRegions []string
	for _, r := range rules {
		if r.GetFrom() == proxy.GetRegion() {
			failoverRegions = append(failoverRegions, r.GetTo())
		}
	}
	priorities := make([]int, len(cla.Endpoints))
	for i, group := range cla.Endpoints {
		priorities[i] = localityPriority(group.GetLocality(), proxy, failoverRegions)
	}
	compact := compactPriorities(priorities)
	for i, group := range cla.Endpoints {
		group.Priority = uint32(compact[priorities[i]])
	}
}

func localityPriority(l, proxy *corev3.Locality, failoverRegions []string) int {
	switch {
	case l.GetRegion() != proxy.GetRegion():
		if slices.Contains(failoverRegions, l.GetRegion()) {
			return priorityFailoverRegion
		}
		return priorityOtherRegion
	case l.GetZone() != proxy.GetZone():
		return prioritySameRegion
	case l.GetSubZone() != proxy.GetSubZone():
		return prioritySameZone
	}
	return prioritySameSubzone
}

// compactPriorities maps the priorities in use onto 0, 1, 2..., as Envoy
// requires them to be contiguous.
func compactPriorities(used []int) map[int]int {
	distinct := slices.Clone(used)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	out := make(map[int]int, len(distinct))
	for i, p := range distinct {
		out[p] = i
	}
	return out
}

// localityMatches reports whether l matches a "REGION/ZONE/SUBZONE"
// pattern, where "*" matches anything from there on and left-out parts
// match anything.
func localityMatches(pattern string, l *corev3.Locality) bool {
	parts := []string{l.GetRegion(), l.GetZone(), l.GetSubZone()}
	for i, want := range strings.Split(pattern, "/") {
		if want == "*" {
			return true
		}
		if i >= len(parts) || parts[i] != want {
			return false
		}
	}
	return true
}
