package translate

import (
	"iter"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// InheritFrom takes over from prev, the Translator of the previous
// snapshot, what the change between the two snapshots cannot touch, so that
// proxies are given the very objects they were given before and nothing
// about them is built, prepared or sent again. It returns how many views it
// took over whole. It must be called before t translates anything.
//
// Each outbound part of a view, and each inbound part, was built from what
// it read through its Index (see reads: the services, endpoints, hosts'
// routing, configuration objects, mesh settings and network gateways it
// consulted, recorded as it read them). A part is taken over when the
// change (see snapshotChange) touches none of its reads; an inbound part
// only with its view, and only when a proxy looked it up since prev took
// it over or built it. The clusters of service ports and the routes of
// virtual hosts (units, shared by every view) are taken over the same way,
// each by its own reads. A view is taken over whole when every unit it
// took is too; a sidecar view whose own reads and routes hold but some of
// whose clusters do not is reassembled, keeping its routes and listeners,
// by the first proxy that asks for it. Views built with an error, or not
// built, are not taken over.
func (t *Translator) InheritFrom(prev *Translator) int {
	if prev == nil {
		return 0
	}
	change := changeBetween(prev.idx, t.idx)
	clusterOf := prev.idx.clusterIDs()
	t.previousIndex = func(old *Index) (*Index, bool) {
		id, known := clusterOf[old]
		if !known {
			return nil, false
		}
		return t.idx.ForCluster(id), true
	}
	kept := t.units.inherit(prev.units, &change, t.previousIndex)
	t.carried = kept
	prev.mu.Lock()
	defer prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	whole := 0
	for v, e := range prev.shared {
		next, known := t.previousIndex(v.index)
		if !known {
			continue
		}
		if pending := e.pendingFrom(); pending != nil && !change.reaches(pending.reads) {
			v.index = next
			t.shared[v] = reassembling(pending)
			continue
		}
		if !builtWithoutError(e) || change.reaches(e.res.reads) {
			continue
		}
		v.index = next
		switch {
		case allKept(e.res.unitReads, kept):
			t.shared[v] = e.inherited(&change)
			whole++
		case v.proxyType != model.RouterProxy: // a gateway's own clusters derive from its units
			t.shared[v] = e.reassembled(&change)
		}
	}
	return whole
}

// allKept reports whether every unit of a view was taken over.
func allKept(units []*reads, kept map[*reads]bool) bool {
	for _, u := range units {
		if !kept[u] {
			return false
		}
	}
	return true
}

// builtWithoutError reports whether e's outbound part is built and good.
func builtWithoutError(e *sharedEntry) bool {
	return e.built.Load() && e.err == nil
}

// inherited is a copy of the built entry e for the next Translator, with
// the inbound parts of e that still hold (see heldWorkloads).
func (e *sharedEntry) inherited(change *snapshotChange) *sharedEntry {
	out := &sharedEntry{res: e.res, workloads: map[workloadKey][]*workloadEntry{}}
	out.once.Do(func() {}) // built already
	out.built.Store(true)
	for key, w := range e.heldWorkloads(change) {
		out.workloads[key] = append(out.workloads[key], w)
	}
	return out
}

// pendingFrom is, when e was to be reassembled and no proxy has built it
// yet (the snapshots came faster than proxies were translated), the
// outbound part it was to be reassembled from; nil otherwise. The change
// that made e reached none of that part's own reads.
func (e *sharedEntry) pendingFrom() *sharedResources {
	from := e.reassembleFrom.Load()
	if from == nil || e.built.Load() {
		return nil
	}
	return from
}

// reassembling is an entry of the next Translator that reassembles from
// (see reassemble); its inbound parts are built anew.
func reassembling(from *sharedResources) *sharedEntry {
	out := &sharedEntry{workloads: map[workloadKey][]*workloadEntry{}}
	out.reassembleFrom.Store(from)
	return out
}

// reassembled is an entry of the next Translator that reassembles e's
// outbound part (see reassemble), with the inbound parts of e that still
// hold, to be joined to it anew.
func (e *sharedEntry) reassembled(change *snapshotChange) *sharedEntry {
	out := reassembling(e.res)
	for key, w := range e.heldWorkloads(change) {
		carried := &workloadEntry{targets: w.targets, carried: w.res}
		out.workloads[key] = append(out.workloads[key], carried)
	}
	return out
}

// heldWorkloads are the inbound parts of e that proxies looked up since e
// was made or inherited (those of proxies gone are dropped) and that change
// does not reach, with their keys.
func (e *sharedEntry) heldWorkloads(change *snapshotChange) iter.Seq2[workloadKey, *workloadEntry] {
	return func(yield func(workloadKey, *workloadEntry) bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for key, list := range e.workloads {
			for _, w := range list {
				if w.wanted.Swap(false) && w.built.Load() && w.err == nil && !change.reaches(w.res.reads) && !yield(key, w) {
					return
				}
			}
		}
	}
}

// clusterIDs maps idx and each of its per-cluster indexes (ForCluster) to
// the cluster id it is for; idx itself is "".
func (idx *Index) clusterIDs() map[*Index]string {
	out := map[*Index]string{idx: ""}
	idx.tables.clusters.Range(func(id, local any) bool {
		if _, seen := out[local.(*Index)]; !seen {
			out[local.(*Index)] = id.(string)
		}
		return true
	})
	return out
}
