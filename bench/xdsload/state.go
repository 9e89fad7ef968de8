package xdsload

import (
	"slices"
)

// configState is the configuration one simulated sidecar has accepted, by
// type URL and resource name. Maps are copied on write, never changed in
// place, so a shallow copy of the outer map is a consistent snapshot.
type configState struct {
	resources map[string]map[string]*decoded
	// received records the types for which at least one response was
	// accepted: an empty wildcard response still counts.
	received map[string]bool
}

func newConfigState() configState {
	return configState{resources: map[string]map[string]*decoded{}, received: map[string]bool{}}
}

// replace makes list the complete set of typeURL resources (a
// state-of-the-world response for a wildcard type).
func (s *configState) replace(typeURL string, list []*decoded) {
	m := make(map[string]*decoded, len(list))
	for _, d := range list {
		m[d.name] = d
	}
	s.setType(typeURL, m)
}

// update adds or replaces the resources in list and removes the named ones.
func (s *configState) update(typeURL string, list []*decoded, removed []string) {
	old := s.resources[typeURL]
	m := make(map[string]*decoded, len(old)+len(list))
	for k, v := range old {
		m[k] = v
	}
	for _, d := range list {
		m[d.name] = d
	}
	for _, name := range removed {
		delete(m, name)
	}
	s.setType(typeURL, m)
}

// retain drops the typeURL resources whose names are not in keep, as Envoy
// forgets EDS and RDS resources nothing references any more.
func (s *configState) retain(typeURL string, keep []string) {
	old := s.resources[typeURL]
	m := make(map[string]*decoded, len(keep))
	for _, name := range keep {
		if d, ok := old[name]; ok {
			m[name] = d
		}
	}
	if len(m) != len(old) {
		s.setType(typeURL, m)
	}
}

func (s *configState) setType(typeURL string, m map[string]*decoded) {
	resources := make(map[string]map[string]*decoded, len(s.resources)+1)
	for k, v := range s.resources {
		resources[k] = v
	}
	resources[typeURL] = m
	s.resources = resources
	received := make(map[string]bool, len(s.received)+1)
	for k, v := range s.received {
		received[k] = v
	}
	received[typeURL] = true
	s.received = received
}

// get returns one resource, or nil.
func (s *configState) get(typeURL, name string) *decoded {
	return s.resources[typeURL][name]
}

// wanted lists, sorted, the names of the dependent type (EDS for CDS, RDS
// for LDS) that the accepted parent resources reference.
func (s *configState) wanted(dependent string) []string {
	parent := parentType[dependent]
	seen := map[string]bool{}
	var out []string
	for _, d := range s.resources[parent] {
		for _, ref := range d.refs {
			if !seen[ref] {
				seen[ref] = true
				out = append(out, ref)
			}
		}
	}
	slices.Sort(out)
	return out
}

// parentType maps each dependent type to the type whose resources name it.
var parentType = map[string]string{typeEDS: typeCDS, typeRDS: typeLDS}

// complete reports whether the sidecar has its full configuration: CDS and
// LDS accepted, and every EDS and RDS name they reference present.
func (s *configState) complete() bool {
	if !s.received[typeCDS] || !s.received[typeLDS] {
		return false
	}
	for _, dep := range []string{typeEDS, typeRDS} {
		for _, name := range s.wanted(dep) {
			if s.get(dep, name) == nil {
				return false
			}
		}
	}
	return true
}

// count is the number of accepted resources of all types.
func (s *configState) count() int {
	n := 0
	for _, m := range s.resources {
		n += len(m)
	}
	return n
}
