package translate

import (
	"slices"
	"strings"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// reads is what one build (the outbound part of a view, or an inbound part)
// read from its Index. Index methods record into it as they answer, so it
// is derived from what translation actually consulted, never listed by
// hand; a change reaches the build exactly when it touches something
// recorded here (see snapshotChange.reaches).
//
// A reads is written by the one goroutine that builds, then only read.
type reads struct {
	// mesh: the trust domain or the mesh configuration.
	mesh bool
	// networks: the east-west gateways of some network.
	networks bool
	// endpoints: services whose endpoints, or whose definition looked up by
	// key, were read.
	endpoints map[discovery.ServiceKey]struct{}
	// serviceHosts: hostnames whose services (their definitions, not their
	// endpoints) were looked up by name.
	serviceHosts map[string]struct{}
	// queries: enumerations of the catalog (see serviceQuery).
	queries []serviceQuery
	// routingHosts: hosts whose VirtualServices or DestinationRules were
	// looked up.
	routingHosts map[string]struct{}
	// wildcardHosts: those of routingHosts that are wildcards, which cover
	// other hosts.
	wildcardHosts []string
	// configs: objects read by kind and namespace ("" for every namespace)
	// and name ("" for every name).
	configs map[policy.Key]struct{}
	// identities: the mesh identities of services used, as they were; a
	// change reaches them only when it gives one another value (see
	// snapshotChange.reaches).
	identities map[discovery.ServiceKey]meshIdentity
}

// serviceQuery is one enumeration of the catalog's services: those visible
// from namespace, admitted by egress hosts when hosts is not nil.
type serviceQuery struct {
	namespace string
	hosts     []string
}

func (q serviceQuery) admits(svc *discovery.Service) bool {
	return svc.VisibleTo(q.namespace) && (q.hosts == nil || egressAdmits(q.hosts, q.namespace, svc))
}

func newReads() *reads {
	return &reads{
		endpoints:    map[discovery.ServiceKey]struct{}{},
		serviceHosts: map[string]struct{}{},
		routingHosts: map[string]struct{}{},
		configs:      map[policy.Key]struct{}{},
		identities:   map[discovery.ServiceKey]meshIdentity{},
	}
}

// The recording methods do nothing on a nil *reads: the pure Translate
// records nothing.

func (r *reads) readMesh() {
	if r != nil {
		r.mesh = true
	}
}

func (r *reads) readNetworks() {
	if r != nil {
		r.networks = true
	}
}

func (r *reads) readService(key discovery.ServiceKey) {
	if r != nil {
		r.endpoints[key] = struct{}{}
	}
}

func (r *reads) readServiceHost(host string) {
	if r == nil {
		return
	}
	r.serviceHosts[host] = struct{}{}
}

func (r *reads) readQuery(q serviceQuery) {
	if r != nil {
		r.queries = append(r.queries, q)
	}
}

func (r *reads) readRoutingHost(host string) {
	if r == nil {
		return
	}
	if _, seen := r.routingHosts[host]; !seen {
		r.routingHosts[host] = struct{}{}
		r.noteWildcard(host)
	}
}

func (r *reads) noteWildcard(host string) {
	if strings.HasPrefix(host, "*") && !slices.Contains(r.wildcardHosts, host) {
		r.wildcardHosts = append(r.wildcardHosts, host)
	}
}

func (r *reads) readIdentity(key discovery.ServiceKey, id meshIdentity) {
	if r != nil {
		r.identities[key] = id
	}
}

// readConfig records a read of the objects of kind in namespace ns (""
// for all namespaces) named name ("" for all names).
func (r *reads) readConfig(kind policy.Kind, ns, name string) {
	if r != nil {
		r.configs[policy.Key{Kind: kind, Namespace: ns, Name: name}] = struct{}{}
	}
}

// readsConfigObject reports whether r read the object with key k: itself,
// its namespace's objects of its kind, or every object of its kind.
func (r *reads) readsConfigObject(k policy.Key) bool {
	for _, read := range []policy.Key{k, {Kind: k.Kind, Namespace: k.Namespace}, {Kind: k.Kind}} {
		if _, ok := r.configs[read]; ok {
			return true
		}
	}
	return false
}

// readsRoutingOf reports whether r looked up the routing of a host that
// host (a VirtualService or DestinationRule host, perhaps a wildcard)
// covers, or that covers host.
func (r *reads) readsRoutingOf(host string) bool {
	if _, ok := r.routingHosts[host]; ok {
		return true
	}
	if strings.HasPrefix(host, "*") {
		for read := range r.routingHosts {
			if HostMatches(host, read) {
				return true
			}
		}
		return false
	}
	for _, w := range r.wildcardHosts {
		if HostMatches(w, host) {
			return true
		}
	}
	return false
}

// readsService reports whether r depends on the service svc (its state
// before or after a change; nil when absent): its endpoints or definition
// read by key or hostname, or its membership in an enumeration.
func (r *reads) readsService(key discovery.ServiceKey, before, after *discovery.Service, membership bool) bool {
	if _, ok := r.endpoints[key]; ok {
		return true
	}
	if !membership {
		// A lookup by hostname gives definitions; endpoints are read by
		// key, and recorded in endpoints.
		return false
	}
	if _, ok := r.serviceHosts[key.Hostname]; ok {
		return true
	}
	for _, q := range r.queries {
		if (before != nil && q.admits(before)) || (after != nil && q.admits(after)) {
			return true
		}
	}
	return false
}
