package policy

import (
	"iter"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// CheckReferences checks rules that span objects: every VirtualService
// destination (route, mirror) that names a subset must find that subset in a
// DestinationRule for the destination host. Hosts are compared after
// ResolveHost, each relative to its own object's namespace; a wildcard
// DestinationRule host covers the names it matches. The cost is linear in
// the number of destinations, plus the wildcard DestinationRule hosts tried
// for a subset no exact host defines.
func CheckReferences(objs []*Object) []*ConfigError {
	subsets := subsetIndex(objs)
	var errs []*ConfigError
	for _, o := range objs {
		vs, ok := o.Spec.(*networking.VirtualService)
		if !ok || o.Kind != KindVirtualService {
			continue
		}
		for ref := range destinationsOf(vs) {
			if ref.dest.GetSubset() == "" {
				continue
			}
			host := ResolveHost(ref.dest.GetHost(), o.Namespace)
			if !subsets.has(host, ref.dest.GetSubset()) {
				errs = append(errs, &ConfigError{
					Source: o.Source, Key: o.Key, Field: ref.path() + ".subset",
					Msg: "subset " + ref.dest.GetSubset() + " is not defined by any DestinationRule for host " + host,
				})
			}
		}
	}
	return errs
}

// subsetHosts indexes DestinationRule subsets by resolved host. Exact hosts
// are looked up directly; wildcard hosts, usually few, are tried in turn.
type subsetHosts struct {
	exact     map[hostSubset]bool
	wildcards map[string]map[string]bool // "*" or "*.suffix" -> subset names
}

type hostSubset struct{ host, subset string }

func subsetIndex(objs []*Object) subsetHosts {
	idx := subsetHosts{exact: map[hostSubset]bool{}, wildcards: map[string]map[string]bool{}}
	for _, o := range objs {
		dr, ok := o.Spec.(*networking.DestinationRule)
		if !ok || o.Kind != KindDestinationRule {
			continue
		}
		idx.add(ResolveHost(dr.GetHost(), o.Namespace), dr.GetSubsets())
	}
	return idx
}

func (idx subsetHosts) add(host string, subsets []*networking.Subset) {
	if !strings.HasPrefix(host, "*") {
		for _, s := range subsets {
			idx.exact[hostSubset{host, s.GetName()}] = true
		}
		return
	}
	if idx.wildcards[host] == nil {
		idx.wildcards[host] = map[string]bool{}
	}
	for _, s := range subsets {
		idx.wildcards[host][s.GetName()] = true
	}
}

// has reports whether a DestinationRule for host, or a wildcard one covering
// it, defines subset.
func (idx subsetHosts) has(host, subset string) bool {
	if idx.exact[hostSubset{host, subset}] {
		return true
	}
	for drHost, names := range idx.wildcards {
		if names[subset] && HostMatches(drHost, host) {
			return true
		}
	}
	return false
}

// destinationRef is one destination of a VirtualService and where it sits:
// spec.SECTION[rule].FIELD[item] (no item for the single mirror).
type destinationRef struct {
	dest    *networking.Destination
	section string // "http", "tls" or "tcp"
	rule    int
	field   string // "route", "mirror" or "mirrors"
	item    int
}

// path is the field path of the destination, built only when a problem is
// reported.
func (r destinationRef) path() string {
	p := field(index("spec."+r.section, r.rule), r.field)
	if r.field == "mirror" {
		return p
	}
	return index(p, r.item) + ".destination"
}

// destinationsOf yields the destinations of every route and mirror.
func destinationsOf(vs *networking.VirtualService) iter.Seq[destinationRef] {
	return func(yield func(destinationRef) bool) {
		for i, r := range vs.GetHttp() {
			if !yieldRoutes(yield, "http", i, r.GetRoute()) {
				return
			}
			if m := r.GetMirror(); m != nil && !yield(destinationRef{m, "http", i, "mirror", 0}) {
				return
			}
			for j, m := range r.GetMirrors() {
				if d := m.GetDestination(); d != nil && !yield(destinationRef{d, "http", i, "mirrors", j}) {
					return
				}
			}
		}
		for i, r := range vs.GetTls() {
			if !yieldRoutes(yield, "tls", i, r.GetRoute()) {
				return
			}
		}
		for i, r := range vs.GetTcp() {
			if !yieldRoutes(yield, "tcp", i, r.GetRoute()) {
				return
			}
		}
	}
}

// routeDestination is what HTTP, TLS and TCP route destinations share.
type routeDestination interface {
	GetDestination() *networking.Destination
}

func yieldRoutes[R routeDestination](yield func(destinationRef) bool, section string, rule int, routes []R) bool {
	for j, rd := range routes {
		if d := rd.GetDestination(); d != nil && !yield(destinationRef{d, section, rule, "route", j}) {
			return false
		}
	}
	return true
}
