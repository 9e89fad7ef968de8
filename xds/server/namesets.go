package server

import (
	"hash/maphash"
	"maps"
	"runtime"
	"sync"
	"weak"
)

// nameSet is an immutable set of resource names: what a delta stream
// subscribes to of a type. Streams that subscribe to the same names share
// one (see nameSets): in a mesh where every sidecar subscribes to the same
// thousands of load assignments, the set is held once, not once per stream.
type nameSet struct {
	names map[string]struct{}
	sum   uint64 // the sum of its names' hashes: the same whatever the order
}

func (s *nameSet) has(name string) bool {
	_, ok := s.names[name]
	return ok
}

// setKey finds the interned sets that may equal a set.
type setKey struct {
	sum  uint64
	size int
}

// nameSets interns name sets by content. It holds them weakly: a set no
// stream subscribes to any more is collected. Safe for concurrent use.
type nameSets struct {
	seed maphash.Seed
	none *nameSet

	mu   sync.Mutex
	sets map[setKey]weak.Pointer[nameSet]
}

func newNameSets() *nameSets {
	return &nameSets{seed: maphash.MakeSeed(), none: &nameSet{}, sets: map[setKey]weak.Pointer[nameSet]{}}
}

// empty is the set of no name.
func (n *nameSets) empty() *nameSet { return n.none }

// update returns the set of old's names and added, without removed
// (removal applied last): old itself when that changes nothing, else the
// interned set of those names.
func (n *nameSets) update(old *nameSet, added, removed []string) *nameSet {
	c := setChange{old: old, sum: old.sum, size: len(old.names)}
	for _, name := range added {
		c.add(name, maphash.String(n.seed, name))
	}
	for _, name := range removed {
		c.remove(name, maphash.String(n.seed, name))
	}
	if len(c.in) == 0 && len(c.out) == 0 {
		return old
	}
	key := setKey{c.sum, c.size}
	if known := n.lookup(key); known != nil && c.equals(known) {
		return known
	}
	return n.intern(key, &nameSet{names: c.result(), sum: c.sum})
}

func (n *nameSets) lookup(key setKey) *nameSet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sets[key].Value()
}

// intern records s under key unless a live set is recorded there (another
// content with the same key, or the same one made meanwhile), and returns
// s.
func (n *nameSets) intern(key setKey, s *nameSet) *nameSet {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sets[key].Value() == nil {
		n.sets[key] = weak.Make(s)
		runtime.AddCleanup(s, n.forget, key)
	}
	return s
}

// forget drops key once its set was collected.
func (n *nameSets) forget(key setKey) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if wp, ok := n.sets[key]; ok && wp.Value() == nil {
		delete(n.sets, key)
	}
}

// setChange is a set being changed: old, with in added and out removed.
type setChange struct {
	old     *nameSet
	in, out map[string]struct{}
	sum     uint64
	size    int
}

func (c *setChange) add(name string, h uint64) {
	if _, ok := c.out[name]; ok {
		delete(c.out, name)
	} else if c.old.has(name) || c.has(c.in, name) {
		return
	} else {
		if c.in == nil {
			c.in = map[string]struct{}{}
		}
		c.in[name] = struct{}{}
	}
	c.sum += h
	c.size++
}

func (c *setChange) remove(name string, h uint64) {
	if _, ok := c.in[name]; ok {
		delete(c.in, name)
	} else if !c.old.has(name) || c.has(c.out, name) {
		return
	} else {
		if c.out == nil {
			c.out = map[string]struct{}{}
		}
		c.out[name] = struct{}{}
	}
	c.sum -= h
	c.size--
}

func (c *setChange) has(set map[string]struct{}, name string) bool {
	_, ok := set[name]
	return ok
}

// contains reports whether the changed set holds name.
func (c *setChange) contains(name string) bool {
	if c.has(c.in, name) {
		return true
	}
	return !c.has(c.out, name) && c.old.has(name)
}

// equals reports whether s holds exactly the changed set's names.
func (c *setChange) equals(s *nameSet) bool {
	if len(s.names) != c.size {
		return false
	}
	for name := range s.names {
		if !c.contains(name) {
			return false
		}
	}
	return true
}

// result is the changed set's names, in a new map.
func (c *setChange) result() map[string]struct{} {
	out := make(map[string]struct{}, c.size)
	for name := range c.old.names {
		if !c.has(c.out, name) {
			out[name] = struct{}{}
		}
	}
	maps.Copy(out, c.in)
	return out
}
