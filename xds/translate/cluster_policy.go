package translate

import (
	networking "istio.io/api/networking/v1alpha3"
)

// portTrafficPolicy returns the part of a DestinationRule's traffic policy
// that applies to one service port. A matching portLevelSettings entry
// replaces the rule-level policy as a whole: fields it leaves out take their
// defaults, not the rule-level values (Istio's documented behaviour).
func portTrafficPolicy(policy *networking.TrafficPolicy, port uint32) (*networking.TrafficPolicy, bool) {
	for _, pl := range policy.GetPortLevelSettings() {
		if pl.GetPort().GetNumber() == port {
			return &networking.TrafficPolicy{
				ConnectionPool:   pl.GetConnectionPool(),
				LoadBalancer:     pl.GetLoadBalancer(),
				OutlierDetection: pl.GetOutlierDetection(),
				Tls:              pl.GetTls(),
			}, true
		}
	}
	return policy, false
}

// subsetTrafficPolicy merges a subset's policy over the rule's policy for
// one port. Each field group the subset sets (connection pool, outlier
// detection, load balancer, TLS) replaces the rule's; when the subset has
// port-level settings for the port, all four groups come from them.
func subsetTrafficPolicy(rulePolicy, subsetPolicy *networking.TrafficPolicy, port uint32) *networking.TrafficPolicy {
	base, _ := portTrafficPolicy(rulePolicy, port)
	if subsetPolicy == nil {
		return base
	}
	override, portLevel := portTrafficPolicy(subsetPolicy, port)
	if base == nil {
		return override
	}
	merged := &networking.TrafficPolicy{
		ConnectionPool:   base.GetConnectionPool(),
		LoadBalancer:     base.GetLoadBalancer(),
		OutlierDetection: base.GetOutlierDetection(),
		Tls:              base.GetTls(),
		Tunnel:           base.GetTunnel(),
		ProxyProtocol:    base.GetProxyProtocol(),
	}
	if override.ConnectionPool != nil || portLevel {
		merged.ConnectionPool = override.ConnectionPool
	}
	if override.OutlierDetection != nil || portLevel {
		merged.OutlierDetection = override.OutlierDetection
	}
	if override.LoadBalancer != nil || portLevel {
		merged.LoadBalancer = override.LoadBalancer
	}
	if override.Tls != nil || portLevel {
		merged.Tls = override.Tls
	}
	return merged
}
