package translate

import (
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// Inherit takes over from prev, the Translator of the previous snapshot,
// the views that an endpoint change cannot touch, so that their proxies
// are given the very objects they were given before and nothing about
// them is built, prepared or sent again.
//
// It is for a snapshot that differs from prev's only in the endpoints of
// the services changed (the caller checks that: the same configuration
// objects but ServiceEntries and WorkloadEntries, the same services field
// by field, the same network gateways and mesh settings). A view is
// inherited when none of the services it sees is among changed: what a
// proxy is given depends on the endpoints of the services in its view
// only (its clusters, their endpoints and mTLS identities, its locality
// and network routing), while its inbound part is looked up again from
// this Translator's index, and rebuilt when the proxy's inbound targets
// moved. Views built with an error, or not built, are not inherited.
// Inherit must be called before t translates anything.
func (t *Translator) Inherit(prev *Translator, changed []discovery.ServiceKey) {
	t.inherit(prev, changed, true)
}

// InboundPolicyKinds are the kinds of configuration that only the inbound
// part of a proxy's resources reads (its inbound listeners, and the JWKS
// clusters they need); the outbound part of a view does not depend on them.
var InboundPolicyKinds = []policy.Kind{policy.KindPeerAuthentication, policy.KindAuthorizationPolicy, policy.KindRequestAuthentication}

// InheritOutbound is Inherit for a snapshot whose configuration may also
// differ from prev's in objects of InboundPolicyKinds: the outbound parts
// of the views are inherited, their inbound parts are built again. (A
// policy that selects workloads by new labels gives proxies new views,
// which are built whole: see Index.relevantLabels.)
func (t *Translator) InheritOutbound(prev *Translator, changed []discovery.ServiceKey) {
	t.inherit(prev, changed, false)
}

func (t *Translator) inherit(prev *Translator, changed []discovery.ServiceKey, inbound bool) {
	if prev == nil {
		return
	}
	touched := make(map[discovery.ServiceKey]bool, len(changed))
	for _, k := range changed {
		touched[k] = true
	}
	clusterOf := prev.idx.clusterIDs()
	prev.mu.Lock()
	defer prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for v, e := range prev.shared {
		id, known := clusterOf[v.index]
		if !known || !builtWithoutError(e) || e.res.scope.sees(touched) {
			continue
		}
		v.index = t.idx.ForCluster(id)
		t.shared[v] = e.inherited(inbound)
	}
}

// inherited is a copy of the built entry e for the next Translator; with
// inbound, it keeps the inbound parts of e that proxies looked up since e
// was made or inherited (those of proxies gone are dropped).
func (e *sharedEntry) inherited(inbound bool) *sharedEntry {
	out := &sharedEntry{res: e.res, workloads: map[workloadKey][]*workloadEntry{}}
	out.once.Do(func() {}) // built already
	out.built.Store(true)
	if !inbound {
		return out
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, list := range e.workloads {
		for _, w := range list {
			if w.wanted.Swap(false) {
				out.workloads[key] = append(out.workloads[key], w)
			}
		}
	}
	return out
}

// builtWithoutError reports whether e's outbound part is built and good.
func builtWithoutError(e *sharedEntry) bool {
	return e.built.Load() && e.err == nil
}

// clusterIDs maps idx and each of its per-cluster indexes (ForCluster) to
// the cluster id it is for; idx itself is "".
func (idx *Index) clusterIDs() map[*Index]string {
	out := map[*Index]string{idx: ""}
	idx.clusters.Range(func(id, local any) bool {
		if _, seen := out[local.(*Index)]; !seen {
			out[local.(*Index)] = id.(string)
		}
		return true
	})
	return out
}

// sees reports whether any of the services the scope admits is in keys.
func (s *Scope) sees(keys map[discovery.ServiceKey]bool) bool {
	for _, egress := range s.Egress {
		for _, svc := range egress.Services {
			if keys[svc.ServiceKey] {
				return true
			}
		}
	}
	return false
}
