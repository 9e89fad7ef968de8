package translate

import (
	networking "istio.io/api/networking/v1alpha3"
)

// outboundPolicy is what happens to outbound traffic for destinations the
// proxy knows nothing of.
type outboundPolicy struct {
	// AllowAny passes such traffic through (Istio's default, ALLOW_ANY);
	// otherwise it is refused (REGISTRY_ONLY).
	AllowAny bool
	// Cluster receives it: PassthroughCluster, the egress proxy's cluster,
	// or BlackHoleCluster.
	Cluster string
}

// outboundPolicyOf reads the Sidecar's outboundTrafficPolicy; without one
// the mesh default ALLOW_ANY applies.
func outboundPolicyOf(scope *Scope) outboundPolicy {
	var in *networking.OutboundTrafficPolicy
	if sc := sidecarOf(scope); sc != nil {
		in = sc.GetOutboundTrafficPolicy()
	}
	switch {
	case in == nil:
		return outboundPolicy{AllowAny: true, Cluster: PassthroughCluster}
	case in.GetMode() == networking.OutboundTrafficPolicy_REGISTRY_ONLY:
		return outboundPolicy{Cluster: BlackHoleCluster}
	case in.GetEgressProxy() != nil:
		return outboundPolicy{AllowAny: true, Cluster: egressProxyCluster(in.GetEgressProxy(), scope.Sidecar.Namespace)}
	}
	return outboundPolicy{AllowAny: true, Cluster: PassthroughCluster}
}

func egressProxyCluster(d *networking.Destination, ns string) string {
	return ClusterName(Outbound, d.GetPort().GetNumber(), d.GetSubset(), ResolveHost(d.GetHost(), ns))
}

// sidecarOf returns the Sidecar spec of a scope, or nil.
func sidecarOf(scope *Scope) *networking.Sidecar {
	if scope == nil || scope.Sidecar == nil {
		return nil
	}
	sc, _ := scope.Sidecar.Spec.(*networking.Sidecar)
	return sc
}
