package server

import (
	"sync"
	"sync/atomic"

	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// snapshotTranslator translates proxies from one pushed snapshot. By
// default it uses a translate.Translator, which builds what proxies share
// once per push, validates what it returns, and gives proxies that would
// get equal resources the same *translate.Resources; those are then
// prepared once too. With Options.Translate it calls that function for
// each proxy.
type snapshotTranslator struct {
	idx    *translate.Index
	shared *translate.Translator // nil with Options.Translate
	custom TranslateFunc

	mu       sync.Mutex
	prepared map[preparedKey]*preparedEntry
	// types are the prepared types of each translation result, shared by
	// its proxies whatever their secrets.
	types map[*translate.Resources]*typesEntry
}

// typesEntry is the outcome of preparing one translation result's types.
type typesEntry struct {
	once sync.Once
	res  *resourceTypes
	err  error
}

// preparedKey identifies what a proxy is served: a translation result and
// the key of its secrets.
type preparedKey struct {
	res     *translate.Resources
	secrets string
}

// preparedEntry is the outcome of preparing one translation result.
type preparedEntry struct {
	once sync.Once
	res  *proxyResources
	err  error
	// wanted is set when a proxy asks for the entry (see inheritFrom).
	wanted atomic.Bool
}

func (s *Server) newSnapshotTranslator(idx *translate.Index) *snapshotTranslator {
	st := &snapshotTranslator{idx: idx, custom: s.opts.Translate, prepared: map[preparedKey]*preparedEntry{},
		types: map[*translate.Resources]*typesEntry{}}
	if st.custom == nil {
		st.shared = translate.NewTranslator(idx)
	}
	return st
}

// translate translates p.
func (st *snapshotTranslator) translate(p *model.Proxy) (*translate.Resources, error) {
	if st.shared != nil {
		return st.shared.Translate(p)
	}
	return st.custom(st.idx, p)
}

// validates reports whether translation validates every resource itself.
func (st *snapshotTranslator) validates() bool { return st.shared != nil }

// prepare returns build(), once per translation result and secrets when
// results are shared between proxies.
func (st *snapshotTranslator) prepare(key preparedKey, build func() (*proxyResources, error)) (*proxyResources, error) {
	if st.shared == nil {
		return build()
	}
	st.mu.Lock()
	e := st.prepared[key]
	if e == nil {
		e = &preparedEntry{}
		st.prepared[key] = e
	}
	st.mu.Unlock()
	e.wanted.Store(true)
	e.once.Do(func() { e.res, e.err = build() })
	return e.res, e.err
}

// resourceTypes returns build(), once per translation result when results
// are shared between proxies.
func (st *snapshotTranslator) resourceTypes(res *translate.Resources, build func() (*resourceTypes, error)) (*resourceTypes, error) {
	if st.shared == nil {
		return build()
	}
	st.mu.Lock()
	e := st.types[res]
	if e == nil {
		e = &typesEntry{}
		st.types[res] = e
	}
	st.mu.Unlock()
	e.once.Do(func() { e.res, e.err = build() })
	return e.res, e.err
}

// views is the number of distinct outbound views translated so far, or -1
// when translation is not shared.
func (st *snapshotTranslator) views() int {
	if st.shared == nil {
		return -1
	}
	return st.shared.Views()
}

// reassembled is the number of views reassembled so far (see
// translate.Translator.Reassembled); 0 when translation is not shared.
func (st *snapshotTranslator) reassembled() int {
	if st.shared == nil {
		return 0
	}
	return st.shared.Reassembled()
}

// inheritFrom takes over from prev, the translator of the previous push,
// what the change between their snapshots cannot touch: the translations
// of the views it cannot reach (translate.Translator.InheritFrom), and the
// prepared results proxies asked prev for, so that the proxies of those
// views are given the very resources they are served and nothing is
// translated, prepared or sent for them. It must be called before st
// translates anything; it returns how many views it took over.
func (st *snapshotTranslator) inheritFrom(prev *snapshotTranslator) int {
	if prev == nil || st.shared == nil || prev.shared == nil {
		return 0
	}
	kept := st.shared.InheritFrom(prev.shared)
	if kept == 0 {
		return 0
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for key, e := range prev.prepared {
		if e.wanted.Swap(false) {
			st.prepared[key] = e
		}
	}
	return kept
}
