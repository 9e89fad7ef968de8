package translate

import (
	"slices"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// meshIdentity is what clients of a service need for mesh mTLS to it.
type meshIdentity struct {
	// auto says automatic mTLS applies: the service is in the mesh and its
	// namespace does not disable mTLS.
	auto bool
	// sans are the SPIFFE ids of the service's endpoints' service
	// accounts, sorted; empty when none is known (any mesh identity).
	sans []string
}

// meshIdentity derives the mesh identity of svc, once per service and
// snapshot.
func (idx *Index) meshIdentity(svc *discovery.Service) meshIdentity {
	if v, ok := idx.identities.Load(svc.ServiceKey); ok {
		return v.(meshIdentity)
	}
	id := meshIdentity{
		auto: svc.Location == discovery.MeshInternal &&
			idx.namespaceMTLS(svc.Namespace) != policy.MTLSDisable,
		sans: idx.serviceSANs(svc),
	}
	idx.identities.Store(svc.ServiceKey, id)
	return id
}

func (idx *Index) namespaceMTLS(ns string) policy.MTLSMode {
	return policy.NamespaceMTLS(idx.Snapshot.Config, ns)
}

// serviceSANs are the SPIFFE ids of the service accounts of svc's
// endpoints, in the service's namespace.
func (idx *Index) serviceSANs(svc *discovery.Service) []string {
	var out []string
	for _, ep := range idx.Catalog().AllEndpoints(svc.ServiceKey) {
		if ep.ServiceAccount == "" {
			continue
		}
		id := spiffeID(idx.TrustDomain(), svc.Namespace, ep.ServiceAccount)
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// TrustDomain is the mesh's SPIFFE trust domain.
func (idx *Index) TrustDomain() string { return idx.Snapshot.MeshTrustDomain() }

// peerMTLS is the mTLS a workload in ns with labels accepts.
func (idx *Index) peerMTLS(ns string, labels map[string]string) policy.WorkloadMTLS {
	return policy.PeerMTLS(idx.Snapshot.Config, ns, labels)
}
