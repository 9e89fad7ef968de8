package xdsload

import (
	"hash/maphash"
	"slices"
	"sync"
)

// nameList is a sorted list of the names of one dependent type that
// sidecars subscribe to, interned (see subscriptions): in a mesh without
// Sidecar resources every sidecar references the same 4,000 load
// assignments, and would otherwise keep, and encode in each of its
// acknowledgements, a copy of its own. A nil *nameList is empty.
type nameList struct {
	names []string
	once  sync.Once
	enc   encodedNames
}

// list is the names; shared, not to be changed.
func (l *nameList) list() []string {
	if l == nil {
		return nil
	}
	return l.names
}

// encoded is the names as a DiscoveryRequest's resource names, encoded
// the first time they are asked for.
func (l *nameList) encoded() encodedNames {
	l.once.Do(func() { l.enc = encodeNames(l.names) })
	return l.enc
}

// nameLists interns name lists by content.
type nameLists struct {
	mu    sync.Mutex
	seed  maphash.Seed
	lists map[uint64][]*nameList
}

// subscriptions holds every list some sidecar subscribed to during the
// run: a few per namespace view and change.
var subscriptions = &nameLists{seed: maphash.MakeSeed(), lists: map[uint64][]*nameList{}}

// intern returns the list of exactly names (sorted, without duplicates);
// nil for none.
func (n *nameLists) intern(names []string) *nameList {
	if len(names) == 0 {
		return nil
	}
	var h maphash.Hash
	h.SetSeed(n.seed)
	for _, name := range names {
		h.WriteString(name)
		h.WriteByte(0)
	}
	sum := h.Sum64()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.lists[sum] {
		if slices.Equal(l.names, names) {
			return l
		}
	}
	l := &nameList{names: names}
	n.lists[sum] = append(n.lists[sum], l)
	return l
}
