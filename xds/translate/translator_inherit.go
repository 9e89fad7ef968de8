package translate

// InheritFrom takes over from prev, the Translator of the previous
// snapshot, what the change between the two snapshots cannot touch, so that
// proxies are given the very objects they were given before and nothing
// about them is built, prepared or sent again. It returns how many views it
// took over. It must be called before t translates anything.
//
// Each outbound part of a view, and each inbound part, was built from what
// it read through its Index (see reads: the services, endpoints, hosts'
// routing, configuration objects, mesh settings and network gateways it
// consulted, recorded as it read them). A part is taken over when the
// change (see snapshotChange) touches none of its reads; an inbound part
// only with its view, and only when a proxy looked it up since prev took
// it over or built it. The clusters of service ports (units, shared by
// every view) are taken over the same way, each by its own reads, and a
// view only with every unit it took. Views built with an error, or not
// built, are not taken over.
func (t *Translator) InheritFrom(prev *Translator) int {
	if prev == nil {
		return 0
	}
	change := changeBetween(prev.idx, t.idx)
	clusterOf := prev.idx.clusterIDs()
	nextIndex := func(old *Index) (*Index, bool) {
		id, known := clusterOf[old]
		if !known {
			return nil, false
		}
		return t.idx.ForCluster(id), true
	}
	kept := t.units.inherit(prev.units, &change, nextIndex)
	prev.mu.Lock()
	defer prev.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for v, e := range prev.shared {
		next, known := nextIndex(v.index)
		if !known || !builtWithoutError(e) || change.reaches(e.res.reads) || !allKept(e.res.units, kept) {
			continue
		}
		v.index = next
		t.shared[v] = e.inherited(&change)
	}
	return len(t.shared)
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
// the inbound parts of e that proxies looked up since e was made or
// inherited (those of proxies gone are dropped) and that change does not
// reach.
func (e *sharedEntry) inherited(change *snapshotChange) *sharedEntry {
	out := &sharedEntry{res: e.res, workloads: map[workloadKey][]*workloadEntry{}}
	out.once.Do(func() {}) // built already
	out.built.Store(true)
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, list := range e.workloads {
		for _, w := range list {
			if w.wanted.Swap(false) && w.built.Load() && w.err == nil && !change.reaches(w.res.reads) {
				out.workloads[key] = append(out.workloads[key], w)
			}
		}
	}
	return out
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
