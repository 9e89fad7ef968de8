package translate

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// InheritFrom takes over from prev, the Translator of the previous
// snapshot, the views that the change between the two snapshots cannot
// touch, so that their proxies are given the very objects they were given
// before and nothing about them is built, prepared or sent again. It
// returns how many views it took over. It must be called before t
// translates anything.
//
// A view is taken over when none of the services it sees, before or after
// the change, is touched: added, removed, changed, given other endpoints,
// or the host of a changed VirtualService or DestinationRule. What a
// proxy's outbound part holds depends on those services and the routing
// configuration of their hosts only (its clusters, their endpoints and
// mTLS identities, its routes, its locality and network routing). Its
// inbound part is looked up again from t's index, and built again when its
// inbound targets moved, or for every proxy when an inbound policy
// (InboundPolicyKinds) changed. Any other change (mesh settings, trust
// domain, network gateways, Sidecars, Gateways, Telemetry, a VirtualService
// bound to gateways or delegated to, wildcard hosts, workload-selected
// DestinationRules...) takes over nothing. Views built with an error, or
// not built, are not taken over.
func (t *Translator) InheritFrom(prev *Translator) int {
	if prev == nil {
		return 0
	}
	d, ok := diffSnapshots(prev.idx, t.idx)
	if !ok {
		return 0
	}
	clusterOf := prev.idx.clusterIDs()
	prev.mu.Lock()
	defer prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for v, e := range prev.shared {
		id, known := clusterOf[v.index]
		if !known || !builtWithoutError(e) || e.res.scope.touchedBy(d) {
			continue
		}
		v.index = t.idx.ForCluster(id)
		if v.sidecar != nil { // the same Sidecar, perhaps decoded again
			v.sidecar = t.idx.Snapshot.Config.Get(v.sidecar.Key)
		}
		if v.index.scopeOf(v.namespace, v.sidecar).touchedBy(d) {
			continue
		}
		t.shared[v] = e.inherited(!d.inbound)
	}
	return len(t.shared)
}

// InboundPolicyKinds are the kinds of configuration that only the inbound
// part of a proxy's resources reads (its inbound listeners, and the JWKS
// clusters they need); the outbound part of a view does not depend on them.
// Translation that starts reading one of them elsewhere (for gateways'
// listeners, say) must take it out of this list.
var InboundPolicyKinds = []policy.Kind{policy.KindPeerAuthentication, policy.KindAuthorizationPolicy, policy.KindRequestAuthentication}

// snapshotDiff is what differs between two snapshots that a view can be
// kept across.
type snapshotDiff struct {
	services map[discovery.ServiceKey]bool // added, removed, changed or with other endpoints
	hosts    map[string]bool               // of changed VirtualServices and DestinationRules
	inbound  bool                          // an inbound policy changed
}

// diffSnapshots finds what differs from prev's snapshot to next's; false
// when a change is not one views can be kept across.
func diffSnapshots(prev, next *Index) (snapshotDiff, bool) {
	ps, ns := prev.Snapshot, next.Snapshot
	if ps.TrustDomain != ns.TrustDomain || !proto.Equal(ps.Mesh, ns.Mesh) {
		return snapshotDiff{}, false
	}
	services, ok := ps.Catalog.ChangedServices(ns.Catalog)
	if !ok {
		return snapshotDiff{}, false
	}
	d := snapshotDiff{services: map[discovery.ServiceKey]bool{}, hosts: map[string]bool{}}
	for _, k := range services {
		d.services[k] = true
	}
	for _, key := range ps.Config.Changed(ns.Config) {
		if !d.addObjectChange(ps.Config.Get(key), ns.Config.Get(key)) {
			return snapshotDiff{}, false
		}
	}
	return d, true
}

// addObjectChange records the change of one object from was to is (either
// nil when absent); false when views cannot be kept across it.
func (d *snapshotDiff) addObjectChange(was, is *policy.Object) bool {
	switch kind := cmpOr(was, is).Kind; {
	case kind == policy.KindServiceEntry || kind == policy.KindWorkloadEntry:
		return true // they make the catalog, compared as such
	case slices.Contains(InboundPolicyKinds, kind):
		d.inbound = true
		return true
	case kind == policy.KindVirtualService || kind == policy.KindDestinationRule:
		return d.addRoutingHosts(was) && d.addRoutingHosts(is)
	}
	return false
}

func cmpOr(a, b *policy.Object) *policy.Object {
	if a != nil {
		return a
	}
	return b
}

// addRoutingHosts records the hosts a VirtualService or DestinationRule
// (nil: none) configures; false when it reaches beyond them: a
// VirtualService bound to gateways or without hosts (a delegate), a
// wildcard host, a DestinationRule selecting workloads.
func (d *snapshotDiff) addRoutingHosts(o *policy.Object) bool {
	if o == nil {
		return true
	}
	var hosts []string
	switch spec := o.Spec.(type) {
	case *networking.VirtualService:
		if len(spec.GetHosts()) == 0 || slices.ContainsFunc(spec.GetGateways(), func(g string) bool { return g != "mesh" }) {
			return false
		}
		hosts = spec.GetHosts()
	case *networking.DestinationRule:
		if spec.GetWorkloadSelector() != nil {
			return false
		}
		hosts = []string{spec.GetHost()}
	default:
		return false
	}
	for _, h := range hosts {
		host := ResolveHost(h, o.Namespace)
		if strings.Contains(host, "*") {
			return false
		}
		d.hosts[host] = true
	}
	return true
}

// touchedBy reports whether s admits a service d touches: one d names, or
// the host of a changed VirtualService or DestinationRule, which a
// wildcard service (a ServiceEntry for *.example.com) covers too.
func (s *Scope) touchedBy(d snapshotDiff) bool {
	for _, egress := range s.Egress {
		for _, svc := range egress.Services {
			if d.services[svc.ServiceKey] || d.hosts[svc.Hostname] || d.coversHostOf(svc) {
				return true
			}
		}
	}
	return false
}

// coversHostOf reports whether svc has a wildcard hostname that covers a
// host of d.
func (d snapshotDiff) coversHostOf(svc *discovery.Service) bool {
	if !strings.HasPrefix(svc.Hostname, "*") {
		return false
	}
	for host := range d.hosts {
		if HostMatches(svc.Hostname, host) {
			return true
		}
	}
	return false
}

// builtWithoutError reports whether e's outbound part is built and good.
func builtWithoutError(e *sharedEntry) bool {
	return e.built.Load() && e.err == nil
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
