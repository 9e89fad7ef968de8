package server

import (
	"bytes"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"
)

// nameSet is an immutable set of resource names: what a delta stream
// subscribes to of a type. Streams that subscribe to the same names share
// one (see nameSets): in a mesh where every sidecar subscribes to the same
// thousands of load assignments, the set is held once, not once per stream.
type nameSet struct {
	names map[string]int32 // each name's place, 0 to len-1, in no order
	sum   uint64           // the sum of its names' hashes: the same whatever the order
	// encoding is the first request's encoding of exactly these names
	// (see sameAsEncoded), once one was read: proxies that subscribe to
	// the same names list them alike, and one comparison of the bytes
	// saves a lookup per name.
	encoding atomic.Pointer[[]byte]
}

func (s *nameSet) has(name string) bool {
	_, ok := s.names[name]
	return ok
}

// list returns s's names, in no order.
func (s *nameSet) list() []string {
	out := make([]string, 0, len(s.names))
	for name := range s.names {
		out = append(out, name)
	}
	return out
}

// sameAs reports whether names are exactly s's names, each once.
func (s *nameSet) sameAs(names []string) bool {
	m := s.marks()
	for _, name := range names {
		if i, ok := s.names[name]; !m.mark(i, ok) {
			return false
		}
	}
	return m.count == len(s.names)
}

// sameAsEncoded is sameAs for names not decoded (see encodedNames).
func (s *nameSet) sameAsEncoded(names encodedNames) bool {
	if known := s.encoding.Load(); known != nil && bytes.Equal(*known, names) {
		return true
	}
	m := s.marks()
	for name := range names.all() {
		if i, ok := s.names[string(name)]; !m.mark(i, ok) {
			return false
		}
	}
	if m.count != len(s.names) {
		return false
	}
	if s.encoding.Load() == nil {
		encoding := bytes.Clone(names)
		s.encoding.CompareAndSwap(nil, &encoding)
	}
	return true
}

func (s *nameSet) marks() placeMarks {
	return placeMarks{bits: make([]uint64, (len(s.names)+63)/64)}
}

// placeMarks marks the places of a set's names seen in a list.
type placeMarks struct {
	bits  []uint64
	count int
}

// mark marks place i, if the name was in the set (ok); false when it was
// not, or its place was marked already.
func (m *placeMarks) mark(i int32, ok bool) bool {
	word, bit := i/64, uint64(1)<<(i%64)
	if !ok || m.bits[word]&bit != 0 {
		return false
	}
	m.bits[word] |= bit
	m.count++
	return true
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
	if len(old.names) == 0 && len(removed) == 0 {
		if known := n.known(added); known != nil {
			return known
		}
	}
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

// known is the interned set of exactly names, when there is one: how a
// stream's first request usually finds its set (every sidecar of a mesh
// subscribing to the same load assignments), without building it.
func (n *nameSets) known(names []string) *nameSet {
	var sum uint64
	for _, name := range names {
		sum += maphash.String(n.seed, name)
	}
	if s := n.lookup(setKey{sum, len(names)}); s != nil && s.sameAs(names) {
		return s
	}
	return nil
}

// knownEncoded is known for names not decoded (see encodedNames).
func (n *nameSets) knownEncoded(names encodedNames) *nameSet {
	var sum uint64
	count := 0
	for name := range names.all() {
		sum += maphash.Bytes(n.seed, name)
		count++
	}
	if s := n.lookup(setKey{sum, count}); s != nil && s.sameAsEncoded(names) {
		return s
	}
	return nil
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

// result is the changed set's names, in a new map, each at its place.
func (c *setChange) result() map[string]int32 {
	out := make(map[string]int32, c.size)
	for name := range c.old.names {
		if !c.has(c.out, name) {
			out[name] = int32(len(out))
		}
	}
	for name := range c.in {
		out[name] = int32(len(out))
	}
	return out
}
