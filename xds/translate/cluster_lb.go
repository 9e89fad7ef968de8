package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// defaultRingSize is Envoy's minimum ring size, which Istio states
// explicitly when a consistent hash names no algorithm.
const defaultRingSize = 1024

// applyLoadBalancer sets the cluster's LB policy from a loadBalancer block.
// Without one, Istio uses LEAST_REQUEST. Original-destination clusters always
// use CLUSTER_PROVIDED; PASSTHROUGH turns any cluster into one.
func applyLoadBalancer(d *clusterDraft, lb *networking.LoadBalancerSettings) {
	if d.cluster.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		d.cluster.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		return
	}
	switch lb.GetSimple() {
	case networking.LoadBalancerSettings_RANDOM:
		d.cluster.LbPolicy = clusterv3.Cluster_RANDOM
	case networking.LoadBalancerSettings_ROUND_ROBIN:
		d.cluster.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		applySlowStart(d, lb)
	case networking.LoadBalancerSettings_PASSTHROUGH:
		makeOriginalDst(d)
		return
	default: // LEAST_REQUEST, LEAST_CONN (its deprecated alias) and unset
		d.cluster.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
		applySlowStart(d, lb)
	}
	applyConsistentHash(d, lb.GetConsistentHash())
}

// makeOriginalDst sends each connection to the address it was made to,
// dropping any endpoint source.
func makeOriginalDst(d *clusterDraft) {
	d.cluster.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
	d.cluster.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	d.cluster.LoadAssignment = nil
	d.cluster.EdsClusterConfig = nil
}

// applySlowStart ramps traffic to new endpoints up over the warmup window
// (warmup, or the older warmupDurationSecs).
func applySlowStart(d *clusterDraft, lb *networking.LoadBalancerSettings) {
	cfg := slowStartConfig(lb)
	if cfg == nil {
		return
	}
	if d.cluster.LbPolicy == clusterv3.Cluster_ROUND_ROBIN {
		d.cluster.LbConfig = &clusterv3.Cluster_RoundRobinLbConfig_{
			RoundRobinLbConfig: &clusterv3.Cluster_RoundRobinLbConfig{SlowStartConfig: cfg},
		}
		return
	}
	d.cluster.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{
		LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{SlowStartConfig: cfg},
	}
}

func slowStartConfig(lb *networking.LoadBalancerSettings) *clusterv3.Cluster_SlowStartConfig {
	if w := lb.GetWarmup(); w.GetDuration() != nil {
		cfg := &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: w.GetDuration()}
		if a := w.GetAggression(); a != nil {
			cfg.Aggression = &corev3.RuntimeDouble{DefaultValue: a.GetValue(), RuntimeKey: "upstream.slow_start.aggression"}
		}
		if m := w.GetMinimumPercent(); m != nil {
			cfg.MinWeightPercent = &typev3.Percent{Value: m.GetValue()}
		}
		return cfg
	}
	if w := lb.GetWarmupDurationSecs(); w != nil {
		return &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: w}
	}
	return nil
}

// applyConsistentHash switches the cluster to a hashing LB: MAGLEV or
// RING_HASH as chosen, RING_HASH with Envoy's default ring otherwise. What
// is hashed is set on routes (HashPolicy).
func applyConsistentHash(d *clusterDraft, ch *networking.LoadBalancerSettings_ConsistentHashLB) {
	if ch == nil {
		return
	}
	switch {
	case ch.GetMaglev() != nil:
		d.cluster.LbPolicy = clusterv3.Cluster_MAGLEV
		d.cluster.LbConfig = nil
		if n := ch.GetMaglev().GetTableSize(); n != 0 {
			d.cluster.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{
				MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(n)},
			}
		}
	case ch.GetRingHash() != nil:
		d.cluster.LbPolicy = clusterv3.Cluster_RING_HASH
		d.cluster.LbConfig = nil
		if n := ch.GetRingHash().GetMinimumRingSize(); n != 0 {
			d.cluster.LbConfig = ringHashConfig(n)
		}
	default:
		size := uint64(defaultRingSize)
		if n := ch.GetMinimumRingSize(); n != 0 { //nolint:staticcheck // deprecated field still honoured
			size = n
		}
		d.cluster.LbPolicy = clusterv3.Cluster_RING_HASH
		d.cluster.LbConfig = ringHashConfig(size)
	}
}

func ringHashConfig(size uint64) *clusterv3.Cluster_RingHashLbConfig_ {
	return &clusterv3.Cluster_RingHashLbConfig_{
		RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(size)},
	}
}

// HashPolicy is the route-side half of a consistent-hash load balancer: what
// each request is hashed on (a header, a cookie, the source IP or a query
// parameter). It returns nil when lb does not hash.
func HashPolicy(lb *networking.LoadBalancerSettings) []*routev3.RouteAction_HashPolicy {
	ch := lb.GetConsistentHash()
	var policy *routev3.RouteAction_HashPolicy
	switch {
	case ch.GetHttpHeaderName() != "":
		policy = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: ch.GetHttpHeaderName()},
		}}
	case ch.GetHttpCookie() != nil:
		policy = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
			Cookie: hashCookie(ch.GetHttpCookie()),
		}}
	case ch.GetUseSourceIp():
		policy = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
		}}
	case ch.GetHttpQueryParameterName() != "":
		policy = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: ch.GetHttpQueryParameterName()},
		}}
	default:
		return nil
	}
	return []*routev3.RouteAction_HashPolicy{policy}
}

// hashCookie hashes on a cookie; with a TTL Envoy sets the cookie when the
// request lacks it, so a client sticks to one endpoint.
func hashCookie(c *networking.LoadBalancerSettings_ConsistentHashLB_HTTPCookie) *routev3.RouteAction_HashPolicy_Cookie {
	out := &routev3.RouteAction_HashPolicy_Cookie{Name: c.GetName(), Path: c.GetPath(), Ttl: c.GetTtl()}
	for _, a := range c.GetAttributes() {
		out.Attributes = append(out.Attributes, &routev3.RouteAction_HashPolicy_CookieAttribute{
			Name: a.GetName(), Value: a.GetValue(),
		})
	}
	return out
}
