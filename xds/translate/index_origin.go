package translate

import (
	"cmp"
	"slices"
	"strings"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// origin resolves what a build read into the Istio objects and services
// behind it (see Explain): the objects read by kind, namespace and name
// (every one of a kind or namespace read whole), the objects of
// routingKinds (VirtualServices, DestinationRules) for the hosts whose
// routing was looked up, the services
// whose endpoints or definitions were read, and what deriving the mesh
// identities used read. Nothing is recorded: explaining is not a build.
func (idx *Index) origin(r *reads, routingKinds ...policy.Kind) Origin {
	objects := map[policy.Key]*policy.Object{}
	services := map[discovery.ServiceKey]*discovery.Service{}
	c := originCollector{idx: idx, routingKinds: routingKinds, objects: objects, services: services, seen: map[*reads]bool{}}
	c.collect(r)
	var out Origin
	for _, o := range objects {
		out.Objects = append(out.Objects, objectOriginOf(o))
	}
	for _, svc := range services {
		out.Services = append(out.Services, ServiceOrigin{Hostname: svc.Hostname, Namespace: svc.Namespace, Registry: svc.Registry})
	}
	slices.SortFunc(out.Objects, func(a, b ObjectOrigin) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	slices.SortFunc(out.Services, func(a, b ServiceOrigin) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Hostname, b.Hostname))
	})
	return out
}

// originCollector gathers the objects and services behind reads.
type originCollector struct {
	idx          *Index
	routingKinds []policy.Kind
	objects      map[policy.Key]*policy.Object
	services     map[discovery.ServiceKey]*discovery.Service
	seen         map[*reads]bool
}

func (c *originCollector) collect(r *reads) {
	if r == nil || c.seen[r] {
		return
	}
	c.seen[r] = true
	idx, objects, services := c.idx, c.objects, c.services
	for k := range r.configs {
		for _, o := range idx.Snapshot.Config.List(k.Kind) {
			if (k.Namespace == "" || o.Namespace == k.Namespace) && (k.Name == "" || o.Name == k.Name) {
				objects[o.Key] = o
			}
		}
	}
	for _, kind := range c.routingKinds {
		for _, o := range idx.Snapshot.Config.List(kind) {
			for _, h := range routingHosts(o) {
				if r.readsRoutingOf(h) {
					objects[o.Key] = o
				}
			}
		}
	}
	for key := range r.endpoints {
		if svc := idx.Snapshot.Catalog.Service(key); svc != nil {
			services[key] = svc
		}
	}
	for host := range r.serviceHosts {
		for _, svc := range idx.Snapshot.Catalog.ServicesByHost(host) {
			services[svc.ServiceKey] = svc
		}
	}
	for _, id := range r.identities {
		c.collect(id.reads)
	}
}

// objectOrigin is the object of kind named "NAMESPACE/NAME".
func (idx *Index) objectOrigin(kind, name string) ObjectOrigin {
	ns, n, _ := strings.Cut(name, "/")
	if o := idx.Snapshot.Config.Get(policy.Key{Kind: policy.Kind(kind), Namespace: ns, Name: n}); o != nil {
		return objectOriginOf(o)
	}
	return ObjectOrigin{Kind: kind, Namespace: ns, Name: n}
}

func objectOriginOf(o *policy.Object) ObjectOrigin {
	out := ObjectOrigin{Kind: string(o.Kind), Namespace: o.Namespace, Name: o.Name}
	if src := o.Source.String(); src != "" {
		out.Source = src
	}
	return out
}
