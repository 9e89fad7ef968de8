package xdsload

import (
	"slices"
)

// configState is the configuration one simulated sidecar has accepted, by
// type URL and resource name. Maps and slices are copied on write, never
// changed in place (a type's resources are an immutable resourceMap), so a
// shallow copy of the struct is a consistent snapshot. A dependent type
// holds only names its parents reference, as Envoy keeps only what it
// subscribes to.
type configState struct {
	resources map[string]*resourceMap
	// received records the types for which at least one response was
	// accepted: an empty wildcard response still counts.
	received map[string]bool
	// want holds, by dependent type, the sorted names the accepted parent
	// resources reference; it is recomputed when a parent type changes.
	want map[string]*nameList
}

func newConfigState() configState {
	return configState{resources: map[string]*resourceMap{}, received: map[string]bool{}, want: map[string]*nameList{}}
}

// dependents maps each parent type to the types its resources make the
// proxy subscribe to by name; parents is the reverse.
var (
	dependents = map[string][]string{typeCDS: {typeEDS, typeSDS}, typeLDS: {typeRDS, typeSDS}}
	parents    = map[string][]string{typeEDS: {typeCDS}, typeRDS: {typeLDS}, typeSDS: {typeCDS, typeLDS}}
)

// dependentTypes lists the types subscribed to by name, in the order Envoy
// asks for them.
var dependentTypes = []string{typeEDS, typeRDS, typeSDS}

// replace makes list the complete set of typeURL resources (a
// state-of-the-world response for a wildcard type).
func (s *configState) replace(typeURL string, list []*decoded) {
	m := make(map[string]*decoded, len(list))
	for _, d := range list {
		m[d.name] = d
	}
	if len(m) == s.resources[typeURL].len() && s.holds(typeURL, list) {
		s.markReceived(typeURL) // the same resources again
		return
	}
	s.setType(typeURL, newResourceMap(m))
}

// update adds or replaces the resources in list and removes the named
// ones; of a dependent type, it takes only the names its parents
// reference.
func (s *configState) update(typeURL string, list []*decoded, removed []string) {
	if _, dependent := parents[typeURL]; dependent {
		list = s.onlyWanted(typeURL, list)
	}
	if s.holds(typeURL, list) && !s.holdsAny(typeURL, removed) {
		s.markReceived(typeURL) // nothing changes
		return
	}
	s.setType(typeURL, s.resources[typeURL].with(list, removed))
}

// onlyWanted is list without the resources the parents of typeURL do not
// reference (list itself when it has none).
func (s *configState) onlyWanted(typeURL string, list []*decoded) []*decoded {
	want := s.wanted(typeURL)
	wanted := func(d *decoded) bool { _, ok := slices.BinarySearch(want, d.name); return ok }
	for i, d := range list {
		if !wanted(d) {
			out := slices.Clone(list[:i])
			for _, d := range list[i+1:] {
				if wanted(d) {
					out = append(out, d)
				}
			}
			return out
		}
	}
	return list
}

// forgetUnwanted drops, after an update of typeURL, the resources of
// dependent types nothing references any more, as Envoy forgets them.
func (s *configState) forgetUnwanted(typeURL string) {
	for _, dep := range dependents[typeURL] {
		s.retain(dep, s.wanted(dep))
	}
}

// retain drops the typeURL resources whose names are not in keep (sorted,
// without duplicates).
func (s *configState) retain(typeURL string, keep []string) {
	old := s.resources[typeURL]
	kept := 0
	for _, name := range keep {
		if old.get(name) != nil {
			kept++
		}
	}
	if kept == old.len() {
		return // every resource held is wanted
	}
	m := make(map[string]*decoded, kept)
	for _, name := range keep {
		if d := old.get(name); d != nil {
			m[name] = d
		}
	}
	s.setType(typeURL, newResourceMap(m))
}

// holds reports whether every resource of list is already held, the very
// same decoded resource (hence the same bytes) under its name. The state
// is then left as it is: its referenced names need no recomputing.
func (s *configState) holds(typeURL string, list []*decoded) bool {
	held := s.resources[typeURL]
	for _, d := range list {
		if held.get(d.name) != d {
			return false
		}
	}
	return true
}

// holdsAny reports whether any of the names is held.
func (s *configState) holdsAny(typeURL string, names []string) bool {
	held := s.resources[typeURL]
	for _, name := range names {
		if held.get(name) != nil {
			return true
		}
	}
	return false
}

func (s *configState) setType(typeURL string, m *resourceMap) {
	s.resources = withKey(s.resources, typeURL, m)
	s.markReceived(typeURL)
	for _, dep := range dependents[typeURL] {
		s.want = withKey(s.want, dep, subscriptions.intern(s.referenced(dep)))
	}
}

func (s *configState) markReceived(typeURL string) {
	if !s.received[typeURL] {
		s.received = withKey(s.received, typeURL, true)
	}
}

// withKey returns a copy of m with key set to v.
func withKey[V any](m map[string]V, key string, v V) map[string]V {
	out := make(map[string]V, len(m)+1)
	for k, old := range m {
		out[k] = old
	}
	out[key] = v
	return out
}

// get returns one resource, or nil.
func (s *configState) get(typeURL, name string) *decoded {
	return s.resources[typeURL].get(name)
}

// wanted lists, sorted, the names of the dependent type (EDS for CDS, RDS
// for LDS, SDS for both) that the accepted parent resources reference.
// The slice is shared: callers must not change it.
func (s *configState) wanted(dependent string) []string {
	return s.want[dependent].list()
}

// wantedList is wanted, interned.
func (s *configState) wantedList(dependent string) *nameList {
	return s.want[dependent]
}

// referenced computes wanted(dependent) from the parent resources.
func (s *configState) referenced(dependent string) []string {
	var out []string
	for _, parent := range parents[dependent] {
		for _, d := range s.resources[parent].all() {
			out = append(out, d.refs[dependent]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// complete reports whether the sidecar has its full configuration: CDS and
// LDS accepted, and every EDS, RDS and SDS name they reference present.
func (s *configState) complete() bool {
	if !s.received[typeCDS] || !s.received[typeLDS] {
		return false
	}
	for _, dep := range dependentTypes {
		if !s.holdsAll(dep) {
			return false
		}
	}
	return true
}

// holdsAll reports whether every wanted name of a dependent type is
// present.
func (s *configState) holdsAll(dependent string) bool {
	held := s.resources[dependent]
	for _, name := range s.wanted(dependent) {
		if held.get(name) == nil {
			return false
		}
	}
	return true
}

// secretsWarm reports whether every secret the configuration references
// has arrived: until then Envoy keeps the clusters and listeners that
// reference a missing one warming.
func (s *configState) secretsWarm() bool {
	return s.holdsAll(typeSDS)
}
