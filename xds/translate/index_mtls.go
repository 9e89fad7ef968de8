package translate

import (
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// meshIdentity is what clients of a service need for mesh mTLS to it.
type meshIdentity struct {
	// auto says automatic mTLS applies: the service is in the mesh.
	auto bool
	// sans are the SPIFFE ids of the service's endpoints' service
	// accounts, sorted; empty when none is known (any mesh identity).
	sans []string
	// plaintext are the endpoints with a sidecar that the
	// PeerAuthentication in force at their workload and port sets to
	// DISABLE: clients speak plaintext to them, as Istio's do.
	plaintext map[*discovery.Endpoint]bool
	// reads is what deriving the identity read.
	reads *reads
}

// meshIdentity derives the mesh identity of svc, once per service and
// snapshot. Every use records the identity itself (not what deriving it
// read): a change that leaves it as it was reaches no build through it.
func (idx *Index) meshIdentity(svc *discovery.Service) meshIdentity {
	if v, ok := idx.tables.identities.Load(svc.ServiceKey); ok {
		id := v.(meshIdentity)
		idx.reads.readIdentity(svc.ServiceKey, id)
		return id
	}
	own := idx.recording(newReads())
	id := meshIdentity{
		auto:      svc.Location == discovery.MeshInternal,
		sans:      own.serviceSANs(svc),
		plaintext: own.plaintextEndpoints(svc),
		reads:     own.reads,
	}
	idx.tables.identities.Store(svc.ServiceKey, id)
	idx.reads.readIdentity(svc.ServiceKey, id)
	return id
}

// sameAs reports whether id and o tell clients the same.
func (id meshIdentity) sameAs(o meshIdentity) bool {
	return id.auto == o.auto && slices.Equal(id.sans, o.sans) && slices.Equal(id.plaintextAddresses(), o.plaintextAddresses())
}

// plaintextAddresses are the plaintext endpoints' addresses and ports,
// sorted: endpoint pointers differ from snapshot to snapshot.
func (id meshIdentity) plaintextAddresses() []string {
	out := make([]string, 0, len(id.plaintext))
	for ep := range id.plaintext {
		out = append(out, net.JoinHostPort(ep.Address, strconv.Itoa(int(ep.Port))))
	}
	slices.Sort(out)
	return out
}

// serviceSANs are the SPIFFE ids of the service accounts of svc's
// endpoints, in the service's namespace.
func (idx *Index) serviceSANs(svc *discovery.Service) []string {
	var out []string
	for _, ep := range idx.allEndpoints(svc.ServiceKey) {
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

// plaintextEndpoints finds the endpoints of svc that have a sidecar but
// accept only plaintext on their port: the PeerAuthentication in force at
// the workload (its selector's, then its namespace's, then the mesh's; a
// port-level mode first) is DISABLE.
func (idx *Index) plaintextEndpoints(svc *discovery.Service) map[*discovery.Endpoint]bool {
	var out map[*discovery.Endpoint]bool
	for _, ep := range idx.allEndpoints(svc.ServiceKey) {
		if !hasSidecar(ep) || idx.peerMTLS(svc.Namespace, ep.Labels).ForPort(ep.Port) != policy.MTLSDisable {
			continue
		}
		if out == nil {
			out = map[*discovery.Endpoint]bool{}
		}
		out[ep] = true
	}
	return out
}

// plaintextDisabledLabel marks, in withPeerModes' copies, an endpoint whose
// sidecar accepts only plaintext.
const plaintextDisabledLabel = "disabled"

// withPeerModes is eps with the endpoints that accept only plaintext (see
// plaintextEndpoints) no longer marked as having a sidecar, so that
// automatic mTLS speaks plaintext to them. eps itself is returned when no
// endpoint changes; it is never modified.
func (id meshIdentity) withPeerModes(eps []*discovery.Endpoint) []*discovery.Endpoint {
	if len(id.plaintext) == 0 || !slices.ContainsFunc(eps, func(ep *discovery.Endpoint) bool { return id.plaintext[ep] }) {
		return eps
	}
	out := make([]*discovery.Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = ep
		if id.plaintext[ep] {
			plain := *ep
			plain.Labels = maps.Clone(ep.Labels)
			plain.Labels[TLSModeLabel] = plaintextDisabledLabel
			out[i] = &plain
		}
	}
	return out
}

// peerMTLS is the mTLS a workload in ns with labels accepts.
func (idx *Index) peerMTLS(ns string, labels map[string]string) policy.WorkloadMTLS {
	return policy.PeerMTLS(idx.namespaceConfig(policy.KindPeerAuthentication, ns), ns, labels)
}
