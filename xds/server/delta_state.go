package server

import (
	"slices"
	"strings"
	"weak"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// wildcardName is the resource name that subscribes to every resource of a
// type in delta xDS.
const wildcardName = "*"

// deltaType is what one delta stream subscribes to and holds of one type.
// It keeps no map of names per stream: the names a stream subscribes to are
// a nameSet shared by every stream subscribing to the same names, and what
// it holds is the prepared type it was last answered from (base), which
// every proxy served the same resources shares.
//
// What the stream holds is, when own is nil, every resource of base it
// subscribes to, at base's version, but those in unsent; when own is set
// (the versions a reconnecting client said it holds), exactly own.
type deltaType struct {
	wildcard bool
	// legacy: the first request named no resource, which subscribes to
	// everything until a request names one (xDS's legacy wildcard).
	legacy bool
	names  *nameSet // explicit subscriptions; never nil

	base   *typeResources
	unsent map[string]struct{} // subscribed since base was sent: not held
	own    map[string]string

	open     bool // a request waits for its response
	answered bool // a response of this type was sent on the stream
	noted    bool // what a reconnecting stream holds was recorded as held
}

// newDeltaType is the state made by a stream's first request of a type.
func newDeltaType(r *deltaRequest, sets *nameSets) *deltaType {
	req := r.req
	d := &deltaType{names: sets.empty()}
	subscribe := req.GetResourceNamesSubscribe()
	switch {
	case r.subscribed != nil: // names, no "*": the set, before what it unsubscribes
		d.names, subscribe = r.subscribed, nil
	case len(subscribe) == 0:
		d.wildcard, d.legacy = true, true
	}
	if held := req.GetInitialResourceVersions(); len(held) > 0 {
		d.own = make(map[string]string, len(held))
		for name, version := range held {
			d.own[name] = version
		}
	}
	d.update(subscribe, req.GetResourceNamesUnsubscribe(), sets)
	return d
}

// newSotwHeld is the state made by a state-of-the-world stream's first
// request of a type: CDS and LDS requests that name nothing subscribe to
// everything (xDS's legacy wildcard); "*" does for any type.
func newSotwHeld(typeURL string, r *sotwRequest, sets *nameSets) *deltaType {
	if r.same != nil {
		return &deltaType{names: r.same}
	}
	names := r.req.GetResourceNames()
	d := &deltaType{names: sets.empty()}
	if len(names) == 0 && (typeURL == resource.ClusterType || typeURL == resource.ListenerType) {
		d.wildcard, d.legacy = true, true
	}
	d.resubscribe(names, sets)
	return d
}

// resubscribe makes names, a state-of-the-world request's whole list, what
// the stream subscribes to.
func (d *deltaType) resubscribe(names []string, sets *nameSets) {
	if d.legacy && len(names) == 0 {
		return
	}
	if !d.wildcard && d.names.sameAs(names) {
		return
	}
	want := make(map[string]struct{}, len(names))
	for _, name := range names {
		want[name] = struct{}{}
	}
	var gone []string
	if _, ok := want[wildcardName]; !ok && d.wildcard {
		gone = append(gone, wildcardName)
	}
	for name := range d.names.names {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
		}
	}
	d.update(names, gone, sets)
}

// update applies a request's subscriptions and unsubscriptions, in that
// order, as the xDS protocol describes them: "*" subscribes or
// unsubscribes the wildcard; naming a resource ends a legacy wildcard
// subscription but keeps the wildcard; a resource unsubscribed by name
// from a wildcard subscription is sent again (or its removal) at the next
// answer.
func (d *deltaType) update(subscribe, unsubscribe []string, sets *nameSets) {
	if d.legacy {
		if len(subscribe) == 0 {
			return
		}
		d.legacy = false
	}
	var added, removed []string
	for _, name := range subscribe {
		if name == wildcardName {
			d.wildcard = true
			continue
		}
		added = append(added, name)
		if d.own == nil && d.base.get(name) != nil && !d.names.has(name) && !d.wildcard {
			d.markUnsent(name)
		}
	}
	for _, name := range unsubscribe {
		if name == wildcardName {
			d.wildcard = false
			continue
		}
		removed = append(removed, name)
		if d.wildcard && d.names.has(name) {
			d.forget(name) // sent again, or removed, at the next answer
			d.markUnsent(name)
			continue
		}
		d.forget(name)
	}
	d.names = sets.update(d.names, added, removed)
}

// resend has the stream sent name again at the next answer, if it
// subscribes to it: Envoy builds a changed cluster anew, and the new
// cluster waits for its load assignment even when that did not change.
func (d *deltaType) resend(name string) {
	if !d.subscribed(name) {
		return
	}
	if d.own != nil {
		delete(d.own, name)
		return
	}
	if d.base.get(name) != nil {
		d.markUnsent(name)
	}
}

func (d *deltaType) markUnsent(name string) {
	if d.own != nil {
		return
	}
	if d.unsent == nil {
		d.unsent = map[string]struct{}{}
	}
	d.unsent[name] = struct{}{}
}

// forget drops name from what the stream holds.
func (d *deltaType) forget(name string) {
	delete(d.own, name)
	delete(d.unsent, name)
}

// subscribed reports whether the stream subscribes to name.
func (d *deltaType) subscribed(name string) bool {
	return d.wildcard || d.names.has(name)
}

// owed is what the stream is owed of t: the resources it subscribes to and
// does not hold at their version, in name order, and the removal of those
// it holds that t does not have.
func (d *deltaType) owed(t *typeResources) (send []*preparedResource, removed []string) {
	if d.own != nil {
		return d.owedFromOwn(t)
	}
	if d.base == t && len(d.unsent) == 0 {
		return nil, nil
	}
	if len(d.unsent) > 0 || t == nil {
		return d.walk(t)
	}
	// What a stream is owed depends on what it was sent and what it
	// subscribes to only: every stream that held the same list and
	// subscribes to the same names is owed the same, found once.
	key := owedKey{base: weak.Make(d.base), names: d.names, wildcard: d.wildcard}
	if v, ok := t.owedFrom.Load(key); ok {
		o := v.(owedResult)
		return o.send, o.removed
	}
	send, removed = d.walk(t)
	t.owedFrom.Store(key, owedResult{send, removed})
	return send, removed
}

// owedKey is what decides what a stream that holds no resource it was not
// sent is owed of a list (see typeResources.owedFrom).
type owedKey struct {
	base     weak.Pointer[typeResources] // weak: a list does not keep the lists before it
	names    *nameSet
	wildcard bool
}

// owedResult is what streams of one owedKey are owed; shared, never
// modified.
type owedResult struct {
	send    []*preparedResource
	removed []string
}

// walk is owed, found by walking the list the stream holds and t, both
// sorted by name.
func (d *deltaType) walk(t *typeResources) (send []*preparedResource, removed []string) {
	held, next := typeList(d.base), typeList(t)
	i, j := 0, 0
	for i < len(held) || j < len(next) {
		switch c := compareNext(held, next, i, j); {
		case c < 0: // held, gone
			if name := held[i].name; d.holds(name) {
				removed = append(removed, name)
			}
			i++
		case c > 0: // new
			if d.subscribed(next[j].name) {
				send = append(send, next[j])
			}
			j++
		default:
			if d.owesAgain(held[i], next[j]) {
				send = append(send, next[j])
			}
			i, j = i+1, j+1
		}
	}
	return send, removed
}

// owesAgain reports whether the stream is owed r, of the name of was,
// which it was sent. The same prepared resource is owed only if it was
// subscribed since (most of a list is the same resources: they cost no
// lookup).
func (d *deltaType) owesAgain(was, r *preparedResource) bool {
	if was == r {
		_, unsent := d.unsent[r.name]
		return unsent && d.subscribed(r.name)
	}
	return d.subscribed(r.name) && (!d.holds(r.name) || was.version != r.version)
}

// compareNext compares the names at held[i] and next[j]; a list that is
// done compares greater than any name.
func compareNext(held, next []*preparedResource, i, j int) int {
	switch {
	case i == len(held):
		return 1
	case j == len(next):
		return -1
	case held[i] == next[j]:
		return 0
	}
	return strings.Compare(held[i].name, next[j].name)
}

// holds reports whether the stream holds base's resource named name (when
// own is nil).
func (d *deltaType) holds(name string) bool {
	_, unsent := d.unsent[name]
	return !unsent && d.subscribed(name)
}

// owedFromOwn is owed for a stream that holds exactly own.
func (d *deltaType) owedFromOwn(t *typeResources) (send []*preparedResource, removed []string) {
	for _, r := range typeList(t) {
		if v, ok := d.own[r.name]; d.subscribed(r.name) && (!ok || v != r.version) {
			send = append(send, r)
		}
	}
	for name := range d.own {
		if t.get(name) == nil {
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	return send, removed
}

// sent records that the stream was sent what it was owed of t: it now
// holds every resource of t it subscribes to.
func (d *deltaType) sent(t *typeResources) {
	d.base, d.unsent, d.own = t, nil, nil
	d.open, d.answered = false, true
}
