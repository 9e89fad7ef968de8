package translate

import (
	"reflect"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// snapshotChange is everything that differs between two snapshots, in the
// terms builds record their reads in (see reads).
type snapshotChange struct {
	mesh     bool // trust domain or mesh configuration
	networks bool // network gateways
	services []serviceChange
	objects  []policy.Key // configuration objects added, removed or changed
	// hosts are the resolved hosts of the changed VirtualServices and
	// DestinationRules, before and after the change.
	hosts []string

	next *Index
	// identities remembers, by service, whether the change gives its mesh
	// identity another value.
	identities map[discovery.ServiceKey]bool
}

// serviceChange is one service added, removed, redefined or given other
// endpoints.
type serviceChange struct {
	key           discovery.ServiceKey
	before, after *discovery.Service // nil when absent
	// membership: the definition itself changed (or the service came or
	// went), which enumerations of the catalog see; false when only its
	// endpoints did.
	membership bool
}

// changeBetween finds what differs from prev's snapshot to next's.
func changeBetween(prev, next *Index) snapshotChange {
	ps, ns := prev.Snapshot, next.Snapshot
	c := snapshotChange{
		mesh:       ps.MeshTrustDomain() != ns.MeshTrustDomain() || !proto.Equal(ps.Mesh, ns.Mesh),
		networks:   !ps.Catalog.SameGateways(ns.Catalog),
		next:       next,
		identities: map[discovery.ServiceKey]bool{},
	}
	for _, key := range ps.Catalog.DiffServices(ns.Catalog) {
		before, after := ps.Catalog.Service(key), ns.Catalog.Service(key)
		membership := before == nil || after == nil || !reflect.DeepEqual(before, after)
		c.services = append(c.services, serviceChange{key: key, before: before, after: after, membership: membership})
	}
	for _, key := range ps.Config.Changed(ns.Config) {
		c.objects = append(c.objects, key)
		c.hosts = append(c.hosts, routingHosts(ps.Config.Get(key))...)
		c.hosts = append(c.hosts, routingHosts(ns.Config.Get(key))...)
	}
	return c
}

// routingHosts are the resolved hosts a VirtualService or DestinationRule
// (nil: none) configures.
func routingHosts(o *policy.Object) []string {
	if o == nil {
		return nil
	}
	var hosts []string
	switch spec := o.Spec.(type) {
	case *networking.VirtualService:
		hosts = spec.GetHosts()
	case *networking.DestinationRule:
		hosts = []string{spec.GetHost()}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, ResolveHost(h, o.Namespace))
	}
	return out
}

// reaches reports whether the change touches anything r read, so that what
// was built from r may differ now.
func (c *snapshotChange) reaches(r *reads) bool {
	if (c.mesh && r.mesh) || (c.networks && r.networks) {
		return true
	}
	for _, s := range c.services {
		if r.readsService(s.key, s.before, s.after, s.membership) {
			return true
		}
	}
	for _, k := range c.objects {
		if r.readsConfigObject(k) {
			return true
		}
	}
	for _, h := range c.hosts {
		if r.readsRoutingOf(h) {
			return true
		}
	}
	for key, id := range r.identities {
		if c.changesIdentity(key, id) {
			return true
		}
	}
	return false
}

// changesIdentity reports whether the change gives the mesh identity of
// service key, which was was, another value: the change must reach what
// deriving it read, and deriving it again must give something else.
func (c *snapshotChange) changesIdentity(key discovery.ServiceKey, was meshIdentity) bool {
	if changed, known := c.identities[key]; known {
		return changed
	}
	changed := false
	if c.reaches(was.reads) {
		svc := c.next.Snapshot.Catalog.Service(key)
		changed = svc == nil || !c.next.meshIdentity(svc).sameAs(was)
	}
	c.identities[key] = changed
	return changed
}
