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
// what the change between their snapshots cannot touch (see changeBetween).
// When only endpoints changed: the translations of the views that do not
// see a changed service (translate.Translator.Inherit), and the prepared
// results proxies asked prev for, so that the proxies of those views are
// given the very resources they are served and nothing is translated,
// prepared or sent for them. When inbound policies changed too: the
// outbound parts of those views (Translator.InheritOutbound). It must be
// called before st translates anything; false when nothing is inherited.
func (st *snapshotTranslator) inheritFrom(prev *snapshotTranslator) bool {
	if prev == nil || st.shared == nil || prev.shared == nil {
		return false
	}
	change := changeBetween(prev.idx.Snapshot, st.idx.Snapshot)
	switch change.kind {
	case endpointChange:
		st.shared.Inherit(prev.shared, change.services)
	case inboundPolicyChange:
		st.shared.InheritOutbound(prev.shared, change.services)
		return true
	default:
		return false
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for key := range prev.wanted {
		st.prepared[key] = prev.prepared[key]
	}
	return true
}

// snapshotChange is what differs between two snapshots, as far as what
// translation built for one can serve the other.
type snapshotChange struct {
	kind     changeKind
	services []discovery.ServiceKey // whose endpoints changed
}

type changeKind int

const (
	// anyChange: nothing built for the previous snapshot is reused.
	anyChange changeKind = iota
	// endpointChange: only the endpoints of services changed.
	endpointChange
	// inboundPolicyChange: endpoints, and configuration of the kinds only
	// inbound translation reads (translate.InboundPolicyKinds).
	inboundPolicyChange
)

// changeBetween classifies the change from prev to next. Beyond endpoints
// and inbound policies, it must leave unchanged everything translation
// reads: the mesh settings and trust domain, the configuration objects
// (ServiceEntries and WorkloadEntries aside, which only make the catalog;
// an object decoded again counts as unchanged when equivalent), the
// services and the network gateways.
func changeBetween(prev, next *model.Snapshot) snapshotChange {
	if prev == nil || next == nil || prev.TrustDomain != next.TrustDomain || !proto.Equal(prev.Mesh, next.Mesh) {
		return snapshotChange{}
	}
	services, ok := prev.Catalog.EndpointChanges(next.Catalog)
	if !ok {
		return snapshotChange{}
	}
	catalogKinds := []policy.Kind{policy.KindServiceEntry, policy.KindWorkloadEntry}
	switch {
	case prev.Config.EquivalentExcept(next.Config, catalogKinds...):
		return snapshotChange{kind: endpointChange, services: services}
	case prev.Config.EquivalentExcept(next.Config, append(catalogKinds, translate.InboundPolicyKinds...)...):
		return snapshotChange{kind: inboundPolicyChange, services: services}
	}
	return snapshotChange{}
}
