package discovery

import (
	"cmp"
	"maps"
	"reflect"
	"slices"
	"sort"
)

// Catalog is an immutable set of services and their endpoints.
type Catalog struct {
	services  []*Service
	byKey     map[ServiceKey]*Service
	byHost    map[string][]*Service
	endpoints map[ServiceKey][]*Endpoint
	gateways  []NetworkGateway // sorted by network, address, port
}

// NetworkGateway is where traffic for a network's endpoints enters it from
// other networks: an east-west gateway passing mesh mTLS through by SNI
// (Istio's AUTO_PASSTHROUGH on port 15443).
type NetworkGateway struct {
	Network string
	Address string // IP or hostname reachable from other networks
	Port    uint32
	Cluster string // registry the gateway was found in
}

// WithGateways returns a catalog with c's services and endpoints and the
// given network gateways.
func (c *Catalog) WithGateways(gateways []NetworkGateway) *Catalog {
	out := *c
	out.gateways = slices.Clone(gateways)
	slices.SortStableFunc(out.gateways, compareGateways)
	out.gateways = slices.Compact(out.gateways)
	return &out
}

func compareGateways(a, b NetworkGateway) int {
	return cmp.Or(cmp.Compare(a.Network, b.Network), cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
}

// Gateways lists every network gateway, sorted by network, address and
// port. The slice must not be modified.
func (c *Catalog) Gateways() []NetworkGateway { return c.gateways }

// NetworkGateways lists the gateways into network. The slice must not be
// modified.
func (c *Catalog) NetworkGateways(network string) []NetworkGateway {
	i, _ := slices.BinarySearchFunc(c.gateways, network, func(g NetworkGateway, n string) int { return cmp.Compare(g.Network, n) })
	j := i
	for j < len(c.gateways) && c.gateways[j].Network == network {
		j++
	}
	return c.gateways[i:j]
}

// NewCatalog builds a catalog. It takes ownership of its arguments. Services
// with the same key: the first wins. Endpoints are sorted by service port,
// address and port.
func NewCatalog(services []*Service, endpoints map[ServiceKey][]*Endpoint) *Catalog {
	c := &Catalog{byKey: map[ServiceKey]*Service{}, byHost: map[string][]*Service{}, endpoints: endpoints}
	if c.endpoints == nil {
		c.endpoints = map[ServiceKey][]*Endpoint{}
	}
	for _, s := range services {
		if _, dup := c.byKey[s.ServiceKey]; dup {
			continue
		}
		c.byKey[s.ServiceKey] = s
		c.services = append(c.services, s)
		c.byHost[s.Hostname] = append(c.byHost[s.Hostname], s)
	}
	sort.Slice(c.services, func(i, j int) bool { return lessService(c.services[i].ServiceKey, c.services[j].ServiceKey) })
	for _, eps := range c.endpoints {
		sortEndpoints(eps)
	}
	return c
}

func lessService(a, b ServiceKey) bool {
	if a.Hostname != b.Hostname {
		return a.Hostname < b.Hostname
	}
	return a.Namespace < b.Namespace
}

func sortEndpoints(eps []*Endpoint) {
	sort.SliceStable(eps, func(i, j int) bool {
		a, b := eps[i], eps[j]
		if a.ServicePort != b.ServicePort {
			return a.ServicePort < b.ServicePort
		}
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Port < b.Port
	})
}

// Services returns all services sorted by hostname then namespace. The slice
// must not be modified.
func (c *Catalog) Services() []*Service {
	if c == nil {
		return nil
	}
	return c.services
}

// Service returns the service with key k, or nil.
func (c *Catalog) Service(k ServiceKey) *Service {
	if c == nil {
		return nil
	}
	return c.byKey[k]
}

// ServicesByHost returns every service with the hostname, in namespace order.
func (c *Catalog) ServicesByHost(hostname string) []*Service {
	if c == nil {
		return nil
	}
	return c.byHost[hostname]
}

// Endpoints returns the endpoints of service k that serve servicePort. The
// returned slice is fresh; the endpoints themselves must not be modified.
func (c *Catalog) Endpoints(k ServiceKey, servicePort uint32) []*Endpoint {
	if c == nil {
		return nil
	}
	var out []*Endpoint
	for _, e := range c.endpoints[k] {
		if e.ServicePort == servicePort {
			out = append(out, e)
		}
	}
	return out
}

// AllEndpoints returns every endpoint of service k, sorted by service port.
func (c *Catalog) AllEndpoints(k ServiceKey) []*Endpoint {
	if c == nil {
		return nil
	}
	return c.endpoints[k]
}

// Merge combines catalogs from several registries. When two registries define
// the same service key the first catalog's definition is kept and the
// endpoints of both are joined, as a service spanning clusters.
func Merge(catalogs ...*Catalog) *Catalog {
	var services []*Service
	var gateways []NetworkGateway
	endpoints := map[ServiceKey][]*Endpoint{}
	merged := map[ServiceKey]int{} // position in services
	for _, c := range catalogs {
		if c == nil {
			continue
		}
		for _, s := range c.services {
			if i, ok := merged[s.ServiceKey]; ok {
				services[i] = mergeService(services[i], s)
				continue
			}
			merged[s.ServiceKey] = len(services)
			services = append(services, s)
		}
		gateways = append(gateways, c.gateways...)
		for k, eps := range c.endpoints {
			endpoints[k] = append(endpoints[k], eps...)
		}
	}
	return NewCatalog(services, endpoints).WithGateways(gateways)
}

// mergeService joins a later definition of a service into the first: the
// first's fields win, but ports only the later one has are added and each
// cluster keeps its own addresses. Neither argument is modified.
func mergeService(first, later *Service) *Service {
	if !addsTo(first, later) {
		return first
	}
	out := *first
	for _, p := range later.Ports {
		if out.Port(p.Number) == nil {
			out.Ports = append(slices.Clip(out.Ports), p)
		}
	}
	if len(later.ClusterAddresses) > 0 {
		out.ClusterAddresses = maps.Clone(first.ClusterAddresses)
		if out.ClusterAddresses == nil {
			out.ClusterAddresses = map[string][]string{}
		}
		for id, addrs := range later.ClusterAddresses {
			if _, ok := out.ClusterAddresses[id]; !ok {
				out.ClusterAddresses[id] = addrs
			}
		}
	}
	return &out
}

// addsTo reports whether later has ports or cluster addresses first lacks.
func addsTo(first, later *Service) bool {
	for _, p := range later.Ports {
		if first.Port(p.Number) == nil {
			return true
		}
	}
	for id := range later.ClusterAddresses {
		if _, ok := first.ClusterAddresses[id]; !ok {
			return true
		}
	}
	return false
}

// ForCluster is the catalog as a proxy in cluster id sees it: each service
// with that cluster's own addresses where the cluster has some. It is c
// itself when no service differs.
func (c *Catalog) ForCluster(id string) *Catalog {
	var services []*Service
	changed := false
	for _, s := range c.services {
		if addrs, ok := s.ClusterAddresses[id]; ok && !slices.Equal(addrs, s.Addresses) {
			local := *s
			local.Addresses = addrs
			services = append(services, &local)
			changed = true
			continue
		}
		services = append(services, s)
	}
	if !changed {
		return c
	}
	return NewCatalog(services, c.endpoints).WithGateways(c.gateways)
}

// Registry is a source of services and endpoints.
type Registry interface {
	// Name identifies the registry, for example "file" or a cluster id.
	Name() string
	// Catalog returns the registry's current catalog; never nil.
	Catalog() *Catalog
	// Changes receives a value after Catalog has changed. Sends coalesce.
	Changes() <-chan struct{}
}

// Equal reports whether c and o hold the same services and endpoints, field
// by field.
// It stops at the first difference.
func (c *Catalog) Equal(o *Catalog) bool {
	if c == o {
		return true
	}
	if !c.SameGateways(o) || len(c.Services()) != len(o.Services()) {
		return false
	}
	for _, s := range c.Services() { // keys are unique: equal counts, all found, none extra
		if !c.sameService(o, s) {
			return false
		}
	}
	return true
}

// sameService reports whether o holds s, field by field, with the same
// endpoints as c.
func (c *Catalog) sameService(o *Catalog, s *Service) bool {
	other := o.Service(s.ServiceKey)
	return other != nil && reflect.DeepEqual(s, other) &&
		reflect.DeepEqual(c.AllEndpoints(s.ServiceKey), o.AllEndpoints(s.ServiceKey))
}

// ChangedServices lists the services that differ between c and o: added,
// removed, changed in any field, or with other endpoints. ok is false when
// the network gateways differ, which concerns every service.
func (c *Catalog) ChangedServices(o *Catalog) (changed []ServiceKey, ok bool) {
	if !c.SameGateways(o) {
		return nil, false
	}
	return c.DiffServices(o), true
}

// SameGateways reports whether c and o have the same network gateways.
func (c *Catalog) SameGateways(o *Catalog) bool { return slices.Equal(c.gateways, o.gateways) }

// DiffServices lists the services that differ between c and o: added,
// removed, changed in any field, or with other endpoints.
func (c *Catalog) DiffServices(o *Catalog) []ServiceKey {
	var changed []ServiceKey
	for _, s := range c.Services() {
		if !c.sameService(o, s) {
			changed = append(changed, s.ServiceKey)
		}
	}
	for _, s := range o.Services() {
		if c.Service(s.ServiceKey) == nil {
			changed = append(changed, s.ServiceKey)
		}
	}
	return changed
}
