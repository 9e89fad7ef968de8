package server

import (
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"

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
	// wanted holds the keys of prepared that proxies asked for (see
	// inheritFrom).
	wanted map[preparedKey]bool
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
}

func (s *Server) newSnapshotTranslator(idx *translate.Index) *snapshotTranslator {
	st := &snapshotTranslator{idx: idx, custom: s.opts.Translate,
		prepared: map[preparedKey]*preparedEntry{}, wanted: map[preparedKey]bool{}}
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
	st.wanted[key] = true
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

// inheritFrom takes over from prev, the translator of the previous push,
// what the change between their snapshots cannot touch, when that change
// is to endpoints only (see endpointChangesOnly): the translations of the
// views that do not see a changed service (translate.Translator.Inherit),
// and the prepared results proxies asked prev for. The proxies of those
// views are then given the very resources they are served, and nothing
// is translated, prepared or sent for them. It must be called before st
// translates anything; false when nothing is inherited.
func (st *snapshotTranslator) inheritFrom(prev *snapshotTranslator) bool {
	if prev == nil || st.shared == nil || prev.shared == nil {
		return false
	}
	changed, ok := endpointChangesOnly(prev.idx.Snapshot, st.idx.Snapshot)
	if !ok {
		return false
	}
	st.shared.Inherit(prev.shared, changed)
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for key := range prev.wanted {
		st.prepared[key] = prev.prepared[key]
	}
	return true
}

// endpointChangesOnly lists the services whose endpoints differ between
// the snapshots, when nothing else that translation reads does: the same
// mesh settings and trust domain, equivalent configuration objects (but
// ServiceEntries and WorkloadEntries, which only make the catalog), the
// same services and network gateways.
func endpointChangesOnly(prev, next *model.Snapshot) ([]discovery.ServiceKey, bool) {
	if prev == nil || next == nil || prev.TrustDomain != next.TrustDomain || !proto.Equal(prev.Mesh, next.Mesh) ||
		!prev.Config.EquivalentExcept(next.Config, policy.KindServiceEntry, policy.KindWorkloadEntry) {
		return nil, false
	}
	return prev.Catalog.EndpointChanges(next.Catalog)
}
