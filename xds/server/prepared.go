package server

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// preparedResource is one resource as it is sent: validated, marshalled
// once, and versioned by its content. Every response that carries the
// resource, on any stream, shares its Any. Immutable once prepared (delta
// is made once, on first use).
type preparedResource struct {
	name    string
	sum     [sha256.Size]byte // of the deterministic encoding
	version string            // the resource's delta version: a prefix of sum, in hex
	any     *anypb.Any
	// delta is the resource in delta responses, made at its first
	// (deltaOnce): state-of-the-world streams never need it.
	deltaOnce sync.Once
	delta     *discoveryv3.Resource
	refs      []string // EDS (of a cluster) or RDS (of a listener) names it references
	secrets   []string // SDS names a cluster or listener references
}

// prepareResult is the outcome of preparing one resource object.
type prepareResult struct {
	res *preparedResource
	err error
}

// contentKey identifies a resource by type and encoded content (which
// includes its name).
type contentKey struct {
	typeURL string
	sum     [sha256.Size]byte
}

// preparer prepares each distinct resource once. Translation shares resource
// objects between proxies, so objects are remembered by identity: a push
// validates and marshals every shared object once, not once per proxy.
// Objects are also interned by content, so equal resources built by
// different translations (another push, or proxies that do not share
// objects) share one preparedResource, keeping its Any and version.
// Entries live for two pushes (see rotate). Resources must not be modified
// after translation. Safe for concurrent use.
type preparer struct {
	seed     maphash.Seed
	mu       sync.Mutex
	objects  map[types.Resource]prepareResult
	contents map[contentKey]*preparedResource
	types    map[typeKey]*typeResources
	// lists finds the typeResources of a list of prepared resources, in the
	// order translation gave them, without sorting or hashing it again:
	// views that give the same resources share one list.
	lists map[listKey]madeList
	// sources finds the typeResources of a list of translated objects by
	// their identities, before any of them is looked up.
	sources map[listKey]madeFromObjects
	// consistent remembers the outcome of referencesMatch for a pair of
	// lists (clusters and load assignments, listeners and routes).
	consistent map[[2]*typeResources]error
	// The previous generation, consulted (and promoted) on a miss.
	oldObjects  map[types.Resource]prepareResult
	oldContents map[contentKey]*preparedResource
	oldTypes    map[typeKey]*typeResources
}

// madeList is a typeResources and the list, in translation's order, it
// was made from.
type madeList struct {
	t      *typeResources
	source []*preparedResource
}

// madeFromObjects is a typeResources and the list of translated objects
// (a []T of prepareType) it was made from.
type madeFromObjects struct {
	t       *typeResources
	objects any
}

// listKey identifies a list of prepared resources by the identities of its
// resources, in order.
type listKey struct {
	typeURL string
	sum     uint64
	n       int
}

// typeKey identifies one type's list of resources by its content version.
type typeKey struct {
	typeURL, version string
}

func newPreparer() *preparer {
	return &preparer{objects: map[types.Resource]prepareResult{}, contents: map[contentKey]*preparedResource{},
		types: map[typeKey]*typeResources{}, lists: map[listKey]madeList{}, sources: map[listKey]madeFromObjects{}, consistent: map[[2]*typeResources]error{},
		seed: maphash.MakeSeed()}
}

// prepareAll prepares list, resources of typeURL, in order; validated says
// the resources are known to pass Validate().
func prepareAll[T types.Resource](m *preparer, typeURL string, list []T, validated bool) ([]*preparedResource, error) {
	out := make([]*preparedResource, len(list))
	var missing []int
	m.mu.Lock()
	for i, r := range list {
		found, ok := m.lookup(r)
		switch {
		case !ok:
			missing = append(missing, i)
		case found.err != nil:
			m.mu.Unlock()
			return nil, found.err
		default:
			out[i] = found.res
		}
	}
	m.mu.Unlock()
	for _, i := range missing {
		res, err := m.prepareNew(typeURL, list[i], validated)
		if err != nil {
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}

// lookup finds r by identity; m.mu must be held.
func (m *preparer) lookup(r types.Resource) (prepareResult, bool) {
	if found, ok := m.objects[r]; ok {
		return found, true
	}
	found, ok := m.oldObjects[r]
	if ok {
		m.objects[r] = found
		if found.res != nil {
			m.contents[contentKey{found.res.any.TypeUrl, found.res.sum}] = found.res
		}
	}
	return found, ok
}

// prepareNew prepares an object not seen before, outside the lock, then
// interns it by content.
func (m *preparer) prepareNew(typeURL string, r types.Resource, validated bool) (*preparedResource, error) {
	res, err := prepare(typeURL, r, validated)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		res = m.intern(res)
	}
	m.objects[r] = prepareResult{res: res, err: err}
	return res, err
}

// intern returns the resource already prepared with res's content, or
// records res as that content's; m.mu must be held.
func (m *preparer) intern(res *preparedResource) *preparedResource {
	key := contentKey{res.any.TypeUrl, res.sum}
	if known, ok := m.contents[key]; ok {
		return known
	}
	if known, ok := m.oldContents[key]; ok {
		res = known
	}
	m.contents[key] = res
	return res
}

// rotate starts a new generation: entries not used since the previous
// rotation are dropped.
func (m *preparer) rotate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.oldObjects, m.objects = m.objects, make(map[types.Resource]prepareResult, len(m.objects))
	m.oldContents, m.contents = m.contents, make(map[contentKey]*preparedResource, len(m.contents))
	m.oldTypes, m.types = m.types, make(map[typeKey]*typeResources, len(m.types))
	m.lists = make(map[listKey]madeList, len(m.lists))
	m.sources = make(map[listKey]madeFromObjects, len(m.sources))
	m.consistent = make(map[[2]*typeResources]error, len(m.consistent))
}

// listKeyOf is the key of list, prepared resources of typeURL.
func (m *preparer) listKeyOf(typeURL string, list []*preparedResource) listKey {
	return addressesKey(m.seed, typeURL, list, func(r *preparedResource) unsafe.Pointer { return unsafe.Pointer(r) })
}

// objectsKeyOf is the key of list, translated objects of typeURL.
func objectsKeyOf[T types.Resource](seed maphash.Seed, typeURL string, list []T) listKey {
	return addressesKey(seed, typeURL, list, objectAddress[T])
}

// objectAddress is the address of the object r points to (every resource
// type is a pointer to a generated message).
func objectAddress[T types.Resource](r T) unsafe.Pointer {
	return reflect.ValueOf(r).UnsafePointer()
}

// addressesKey is the key of a list of typeURL by the addresses of its
// entries, in order.
func addressesKey[E any](seed maphash.Seed, typeURL string, list []E, address func(E) unsafe.Pointer) listKey {
	var h maphash.Hash
	h.SetSeed(seed)
	var b [8]byte
	for _, r := range list {
		binary.LittleEndian.PutUint64(b[:], uint64(uintptr(address(r))))
		h.Write(b[:])
	}
	return listKey{typeURL: typeURL, sum: h.Sum64(), n: len(list)}
}

// knownObjects is the typeResources made earlier in this generation from
// exactly the objects of list, in its order; nil when none.
func knownObjects[T types.Resource](m *preparer, key listKey, list []T) *typeResources {
	m.mu.Lock()
	made, ok := m.sources[key]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	same := func(a, b T) bool { return objectAddress(a) == objectAddress(b) }
	if objects, ok := made.objects.([]T); !ok || !slices.EqualFunc(objects, list, same) {
		return nil
	}
	return made.t
}

// rememberObjects records t as made from the objects of list (see
// knownObjects).
func (m *preparer) rememberObjects(key listKey, list any, t *typeResources) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources[key] = madeFromObjects{t: t, objects: list}
}

// knownList is the typeResources made earlier in this generation from
// exactly list (the same resources in the same order); nil when none.
func (m *preparer) knownList(key listKey, list []*preparedResource) *typeResources {
	m.mu.Lock()
	made, ok := m.lists[key]
	m.mu.Unlock()
	if !ok || !slices.Equal(made.source, list) {
		return nil
	}
	return made.t
}

// rememberList records t as made from list (see knownList).
func (m *preparer) rememberList(key listKey, list []*preparedResource, t *typeResources) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists[key] = madeList{t: t, source: list}
}

// referencesMatch is referencesMatch(from, to), computed once per pair of
// lists in a generation.
func (m *preparer) referencesMatch(from, to *typeResources) error {
	key := [2]*typeResources{from, to}
	m.mu.Lock()
	err, ok := m.consistent[key]
	m.mu.Unlock()
	if ok {
		return err
	}
	err = referencesMatch(from, to)
	m.mu.Lock()
	m.consistent[key] = err
	m.mu.Unlock()
	return err
}

// internType returns the typeResources of list (prepared resources of
// typeURL, sorted, at version), one for every proxy and view served the
// same list: their responses share its encodings and a delta stream moved
// to another proxy's list of equal content finds nothing owed.
func (m *preparer) internType(typeURL, version string, list []*preparedResource) *typeResources {
	key := typeKey{typeURL, version}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.types[key]; ok && slices.Equal(t.list, list) {
		return t
	}
	if t, ok := m.oldTypes[key]; ok && slices.Equal(t.list, list) {
		m.types[key] = t
		return t
	}
	t := &typeResources{version: version, list: list}
	m.types[key] = t
	return t
}

type validator interface{ Validate() error }

// prepare validates (unless validated), marshals and versions one
// resource.
func prepare(typeURL string, r types.Resource, validated bool) (*preparedResource, error) {
	name := cache.GetResourceName(r)
	if name == "" {
		return nil, fmt.Errorf("%T without a name", r)
	}
	if v, ok := r.(validator); ok && !validated {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
	}
	b, err := cache.MarshalResource(r)
	if err != nil {
		return nil, fmt.Errorf("marshal %q: %w", name, err)
	}
	res := &preparedResource{name: name, sum: sha256.Sum256(b), any: &anypb.Any{TypeUrl: typeURL, Value: b}}
	res.version = hex.EncodeToString(res.sum[:8])
	res.refs = references(typeURL, name, r)
	res.secrets = secretReferences(r)
	return res, nil
}

// deltaResource is r in delta responses, one object for every response.
func (r *preparedResource) deltaResource() *discoveryv3.Resource {
	r.deltaOnce.Do(func() { r.delta = newPreparedDelta(r, r.name, r.version, r.any) })
	return r.delta
}

// references lists the EDS names a cluster, or the RDS names a listener,
// refers to.
func references(typeURL, name string, r types.Resource) []string {
	var refType string
	switch typeURL {
	case resource.ClusterType:
		refType = resource.EndpointType
	case resource.ListenerType:
		refType = resource.RouteType
	default:
		return nil
	}
	refs := cache.GetResourceReferences(map[string]types.ResourceWithTTL{name: {Resource: r}})[refType]
	out := make([]string, 0, len(refs))
	for ref := range refs {
		out = append(out, ref)
	}
	return out
}
