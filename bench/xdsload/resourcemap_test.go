package xdsload

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// A resource map changed one resource at a time holds, after each change,
// exactly what a plain map changed the same way holds, and the maps it was
// made from keep what they held.
func TestResourceMapFollowsEveryChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]*decoded{}
	var m *resourceMap
	var history []*resourceMap
	var wants []map[string]*decoded
	for i := range 2000 {
		name := fmt.Sprintf("r%d", rng.IntN(300))
		if rng.IntN(4) == 0 {
			delete(want, name)
			m = m.with(nil, []string{name})
		} else {
			d := &decoded{name: name, digest: digest{uint64(i)}}
			want[name] = d
			m = m.with([]*decoded{d}, nil)
		}
		history, wants = append(history, m), append(wants, maps.Clone(want))
	}
	for i, m := range history {
		if got := maps.Collect(m.all()); !maps.Equal(got, wants[i]) || m.len() != len(wants[i]) {
			t.Fatalf("after change %d: %d resources (len %d), want %d", i, len(got), m.len(), len(wants[i]))
		}
		for name, d := range wants[i] {
			if m.get(name) != d {
				t.Fatalf("after change %d: %s is %v, want %v", i, name, m.get(name), d)
			}
		}
	}
}

// A sidecar keeps only the load assignments its clusters reference, as
// Envoy ignores what it did not subscribe to.
func TestDependentUpdateTakesOnlyWantedNames(t *testing.T) {
	s := newConfigState()
	s.replace(typeCDS, []*decoded{{name: "c1", refs: map[string][]string{typeEDS: {"c1"}}}})
	s.update(typeEDS, []*decoded{{name: "c0"}, {name: "c1"}, {name: "c2"}}, nil)
	if got := slices.Sorted(slices.Values(s.resources[typeEDS].names())); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("holds load assignments %v, want [c1]", got)
	}
}
