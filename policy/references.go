package policy

import (
	networking "istio.io/api/networking/v1alpha3"
)

// CheckReferences checks rules that span objects: every VirtualService
// destination (route, mirror) that names a subset must find that subset in a
// DestinationRule for the destination host. Hosts are compared after
// ResolveHost, each relative to its own object's namespace; a wildcard
// DestinationRule host covers the names it matches.
func CheckReferences(objs []*Object) []*ConfigError {
	subsets := subsetIndex(objs)
	var errs []*ConfigError
	for _, o := range objs {
		vs, ok := o.Spec.(*networking.VirtualService)
		if !ok || o.Kind != KindVirtualService {
			continue
		}
		for _, ref := range destinationsOf(vs) {
			if ref.dest.GetSubset() == "" {
				continue
			}
			host := ResolveHost(ref.dest.GetHost(), o.Namespace)
			if !subsets.has(host, ref.dest.GetSubset()) {
				errs = append(errs, &ConfigError{
					Source: o.Source, Key: o.Key, Field: ref.path + ".subset",
					Msg: "subset " + ref.dest.GetSubset() + " is not defined by any DestinationRule for host " + host,
				})
			}
		}
	}
	return errs
}

// subsetHosts maps a resolved DestinationRule host to its subset names.
type subsetHosts map[string]map[string]bool

func subsetIndex(objs []*Object) subsetHosts {
	idx := subsetHosts{}
	for _, o := range objs {
		dr, ok := o.Spec.(*networking.DestinationRule)
		if !ok || o.Kind != KindDestinationRule {
			continue
		}
		host := ResolveHost(dr.GetHost(), o.Namespace)
		if idx[host] == nil {
			idx[host] = map[string]bool{}
		}
		for _, s := range dr.GetSubsets() {
			idx[host][s.GetName()] = true
		}
	}
	return idx
}

// has reports whether a DestinationRule for host, or a wildcard one covering
// it, defines subset.
func (idx subsetHosts) has(host, subset string) bool {
	for drHost, names := range idx {
		if names[subset] && HostMatches(drHost, host) {
			return true
		}
	}
	return false
}

// destinationRef is one destination of a VirtualService and its field path.
type destinationRef struct {
	path string
	dest *networking.Destination
}

// destinationsOf lists the destinations of every route and mirror.
func destinationsOf(vs *networking.VirtualService) []destinationRef {
	var refs []destinationRef
	add := func(path string, d *networking.Destination) {
		if d != nil {
			refs = append(refs, destinationRef{path, d})
		}
	}
	for i, r := range vs.GetHttp() {
		p := index("spec.http", i)
		for j, rd := range r.GetRoute() {
			add(index(field(p, "route"), j)+".destination", rd.GetDestination())
		}
		add(field(p, "mirror"), r.GetMirror())
		for j, m := range r.GetMirrors() {
			add(index(field(p, "mirrors"), j)+".destination", m.GetDestination())
		}
	}
	for i, r := range vs.GetTls() {
		for j, rd := range r.GetRoute() {
			add(index(index("spec.tls", i)+".route", j)+".destination", rd.GetDestination())
		}
	}
	for i, r := range vs.GetTcp() {
		for j, rd := range r.GetRoute() {
			add(index(index("spec.tcp", i)+".route", j)+".destination", rd.GetDestination())
		}
	}
	return refs
}
