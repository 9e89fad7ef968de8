package xdsload

import "iter"

// resourceMap is the accepted resources of one type, by name; it is never
// changed once made. A sidecar that takes one load assignment out of 4,000
// gets a new map that shares the old one's bulk (base) and holds what
// changed since in a small overlay, instead of a copy of all 4,000: the
// load generator shares the control plane's cores, and copying every
// sidecar's map on every change was most of its work in an endpoint
// change. A nil *resourceMap is empty.
type resourceMap struct {
	base map[string]*decoded // shared with the maps it was made from
	// changed holds the names set or removed (nil) since base.
	changed map[string]*decoded
	n       int
}

// newResourceMap makes a map of m's resources; m is kept, not copied.
func newResourceMap(m map[string]*decoded) *resourceMap {
	return &resourceMap{base: m, n: len(m)}
}

// get returns the resource named name, or nil.
func (m *resourceMap) get(name string) *decoded {
	if m == nil {
		return nil
	}
	if d, ok := m.changed[name]; ok {
		return d
	}
	return m.base[name]
}

// len is the number of resources.
func (m *resourceMap) len() int {
	if m == nil {
		return 0
	}
	return m.n
}

// all yields every resource and its name, in no order.
func (m *resourceMap) all() iter.Seq2[string, *decoded] {
	return func(yield func(string, *decoded) bool) {
		if m == nil {
			return
		}
		for name, d := range m.changed {
			if d != nil && !yield(name, d) {
				return
			}
		}
		for name, d := range m.base {
			if _, changed := m.changed[name]; !changed && !yield(name, d) {
				return
			}
		}
	}
}

// with returns m with the resources of list added or replaced and those
// named in removed removed. Once the overlay would hold a quarter of the
// resources, the new map gets a base of its own instead, so a change
// costs a few entries' copies on average.
func (m *resourceMap) with(list []*decoded, removed []string) *resourceMap {
	if m.overlaySize()+len(list)+len(removed) > m.len()/4 {
		return m.rebuilt(list, removed)
	}
	out := &resourceMap{base: m.base, n: m.n, changed: make(map[string]*decoded, len(m.changed)+len(list)+len(removed))}
	for name, d := range m.changed {
		out.changed[name] = d
	}
	for _, d := range list {
		if out.get(d.name) == nil {
			out.n++
		}
		out.changed[d.name] = d
	}
	for _, name := range removed {
		if out.get(name) != nil {
			out.n--
			out.changed[name] = nil
		}
	}
	return out
}

func (m *resourceMap) overlaySize() int {
	if m == nil {
		return 0
	}
	return len(m.changed)
}

// rebuilt is with, as a map with a base of its own.
func (m *resourceMap) rebuilt(list []*decoded, removed []string) *resourceMap {
	base := make(map[string]*decoded, m.len()+len(list))
	for name, d := range m.all() {
		base[name] = d
	}
	for _, d := range list {
		base[d.name] = d
	}
	for _, name := range removed {
		delete(base, name)
	}
	return newResourceMap(base)
}

// names lists the names, in no order.
func (m *resourceMap) names() []string {
	out := make([]string, 0, m.len())
	for name := range m.all() {
		out = append(out, name)
	}
	return out
}
