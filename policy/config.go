package policy

import (
	"sort"
)

// Config is an immutable set of valid Istio objects, indexed by key and kind.
// Lists are sorted by namespace, then name, so translation is deterministic.
type Config struct {
	objects map[Key]*Object
	byKind  map[Kind][]*Object
}

// NewConfig indexes objs. Later objects with the same key replace earlier ones.
func NewConfig(objs []*Object) *Config {
	c := &Config{objects: make(map[Key]*Object, len(objs)), byKind: map[Kind][]*Object{}}
	for _, o := range objs {
		c.objects[o.Key] = o
	}
	for _, o := range c.objects {
		c.byKind[o.Kind] = append(c.byKind[o.Kind], o)
	}
	for _, list := range c.byKind {
		sort.Slice(list, func(i, j int) bool { return lessKey(list[i].Key, list[j].Key) })
	}
	return c
}

func lessKey(a, b Key) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// List returns the objects of one kind. The slice must not be modified.
func (c *Config) List(kind Kind) []*Object {
	if c == nil {
		return nil
	}
	return c.byKind[kind]
}

// Get returns the object with key k, or nil.
func (c *Config) Get(k Key) *Object {
	if c == nil {
		return nil
	}
	return c.objects[k]
}

// Len is the number of objects.
func (c *Config) Len() int {
	if c == nil {
		return 0
	}
	return len(c.objects)
}

// Objects returns every object, sorted by kind, namespace and name.
func (c *Config) Objects() []*Object {
	if c == nil {
		return nil
	}
	kinds := make([]string, 0, len(c.byKind))
	for k := range c.byKind {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	out := make([]*Object, 0, len(c.objects))
	for _, k := range kinds {
		out = append(out, c.byKind[Kind(k)]...)
	}
	return out
}

// Changed lists the keys of the objects that differ between c and o:
// present in one only, or not equivalent (see Object.Equivalent). A nil
// Config holds nothing.
func (c *Config) Changed(o *Config) []Key {
	var out []Key
	for _, obj := range c.Objects() {
		if other := o.Get(obj.Key); other == nil || !obj.Equivalent(other) {
			out = append(out, obj.Key)
		}
	}
	for _, obj := range o.Objects() {
		if c.Get(obj.Key) == nil {
			out = append(out, obj.Key)
		}
	}
	return out
}
