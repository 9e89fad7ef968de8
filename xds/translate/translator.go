package translate

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	telemetry "istio.io/api/telemetry/v1alpha1"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Translator translates proxies from one Index, building each part of a
// proxy's resources once for every proxy that would get the same: the
// outbound part (outbound clusters, their endpoints, the routes, the
// outbound listeners) once per outbound view (namespace, Sidecar, relevant
// labels, capture mode, address families...), the inbound part (inbound
// clusters and listeners) once per view and set of inbound targets. Proxies
// are given the very same objects, so later stages can recognise shared
// resources by identity.
//
// Translator.Translate gives the same resources as Translate; proxies with
// the same view and inbound targets are given the same *Resources. A
// Translator lives for one snapshot and is safe for concurrent use.
// Resources it returns are shared with other proxies: they must not be
// modified.
type Translator struct {
	idx *Index

	units *unitTable // the clusters of service ports, shared by every view
	// previousIndex maps an index of the snapshot InheritFrom took over
	// from to this snapshot's, and carried holds the reads of the units it
	// took over; both nil before InheritFrom.
	previousIndex func(*Index) (*Index, bool)
	carried       map[*reads]bool

	// reassembledViews counts the views reassembled rather than built.
	reassembledViews atomic.Int64

	mu     sync.Mutex
	shared map[outboundView]*sharedEntry
}

// sharedEntry is the outbound part of one view, built by whichever proxy
// needs it first while the others wait, and the inbound parts of the view.
type sharedEntry struct {
	once sync.Once
	res  *sharedResources
	err  error
	// reassembleFrom, when set, is the view's outbound part in the previous
	// snapshot, whose own resources still hold but whose units do not all
	// (see InheritFrom): the first proxy takes its units anew. It is
	// cleared once built.
	reassembleFrom atomic.Pointer[sharedResources]
	// built is set once res and err are (see InheritFrom).
	built atomic.Bool

	mu        sync.Mutex
	workloads map[workloadKey][]*workloadEntry
}

// workloadKey narrows the search for a set of inbound targets.
type workloadKey struct {
	count int
	first inboundTarget
}

// workloadEntry is the inbound part of proxies with one view and targets,
// and the resources of those proxies.
type workloadEntry struct {
	targets []inboundTarget
	once    sync.Once
	// carried is the inbound part of the previous snapshot, when it still
	// holds but the outbound part it joins is reassembled.
	carried *workloadResources
	res     *workloadResources
	err     error
	all     *Resources
	// wanted is set when a proxy looks the entry up (see InheritFrom).
	wanted atomic.Bool
	// built is set once res, err and all are (see InheritFrom).
	built atomic.Bool
}

// NewTranslator starts translating proxies from idx.
func NewTranslator(idx *Index) *Translator {
	return &Translator{idx: idx, units: newUnitTable(), shared: map[outboundView]*sharedEntry{}}
}

// Index is the index the Translator translates from.
func (t *Translator) Index() *Index { return t.idx }

// Views counts the distinct outbound views translated so far.
func (t *Translator) Views() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.shared)
}

// Reassembled counts the views translated so far that were reassembled
// from their previous translation with new units (see InheritFrom) rather
// than built.
func (t *Translator) Reassembled() int { return int(t.reassembledViews.Load()) }

// Translate builds the resources of proxy p.
func (t *Translator) Translate(p *model.Proxy) (*Resources, error) {
	idx := t.idx.ForCluster(p.ClusterID)
	v := viewOf(idx, p)
	e := t.entry(v)
	e.once.Do(func() {
		e.res, e.err = safely(func() (*sharedResources, error) { return t.buildShared(idx, v, e.reassembleFrom.Load()) })
		e.built.Store(true)
		e.reassembleFrom.Store(nil)
	})
	if e.err != nil {
		return nil, fmt.Errorf("translate proxy %s: %w", p.ID, e.err)
	}
	w := e.workload(inboundTargets(idx, p, e.res.scope))
	w.once.Do(func() {
		w.res, w.err = w.carried, nil
		if w.res == nil {
			w.res, w.err = safely(func() (*workloadResources, error) {
				return buildWorkload(idx.recording(newReads()), v, e.res.scope, w.targets)
			})
		}
		w.carried = nil
		if w.err == nil {
			w.all = combine(e.res, w.res)
		}
		w.built.Store(true)
	})
	if w.err != nil {
		return nil, fmt.Errorf("translate proxy %s: %w", p.ID, w.err)
	}
	return w.all, nil
}

func (t *Translator) entry(v outboundView) *sharedEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.shared[v]
	if e == nil {
		e = &sharedEntry{workloads: map[workloadKey][]*workloadEntry{}}
		t.shared[v] = e
	}
	return e
}

// workload returns the entry of the inbound part for targets.
func (e *sharedEntry) workload(targets []inboundTarget) *workloadEntry {
	key := workloadKey{count: len(targets)}
	if len(targets) > 0 {
		key.first = targets[0]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, w := range e.workloads[key] {
		if slices.Equal(w.targets, targets) {
			w.wanted.Store(true)
			return w
		}
	}
	w := &workloadEntry{targets: targets}
	w.wanted.Store(true)
	e.workloads[key] = append(e.workloads[key], w)
	return w
}

// safely runs build, turning a panic into an error, so every proxy waiting
// for a shared part hears of it.
func safely[T any](build func() (T, error)) (res T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return build()
}

// sharedResources is the outbound part of a proxy's resources, which its
// outbound view determines, each list sorted by name and validated.
type sharedResources struct {
	reads *reads // what building them read (see InheritFrom), units apart
	scope *Scope
	// own are the resources the view built itself: routes, listeners, and
	// the SNI-DNAT and fixed clusters.
	own *Resources
	// clusterUnits are the cluster units the view took, and unitReads the
	// reads of every unit it took (see unitSource).
	clusterUnits []*clusterUnit
	unitReads    []*reads
	routeReads   []*reads             // those of unitReads that are routes' (see InheritFrom)
	clusters     []*clusterv3.Cluster // outbound and fixed clusters
	endpoints    []*endpointv3.ClusterLoadAssignment
	routes       []*routev3.RouteConfiguration
	listeners    []*listenerv3.Listener // outbound listeners and virtualOutbound
}

// buildShared builds the outbound part of view v, or reassembles prev (the
// view's part in the previous snapshot) with this snapshot's units when it
// is set and can be.
func (t *Translator) buildShared(idx *Index, v outboundView, prev *sharedResources) (*sharedResources, error) {
	if prev != nil {
		if res, ok := t.reassemble(prev, idx.base); ok {
			t.reassembledViews.Add(1)
			return res, nil
		}
	}
	return buildShared(idx.recording(newReads()), v, t.units)
}

// buildShared builds the outbound part of a view, taking the clusters of
// each service port and the routes of each virtual host from units.
func buildShared(idx *Index, v outboundView, units unitSource) (*sharedResources, error) {
	p := v.proxy()
	scope := idx.scopeOf(v.namespace, idx.configObject(v.sidecar))
	recorded := &recordingUnits{units: units}
	fromUnits, own, err := sharedClusters(idx, p, scope, recorded)
	if err != nil {
		return nil, err
	}
	own.Routes = buildRoutes(idx, p, scope, recorded)
	own.Listeners = sharedListeners(idx, p, scope, v.targetPorts)
	if err := own.Validate(); err != nil {
		return nil, err
	}
	return assembleShared(idx.reads, scope, own, recorded, fromUnits), nil
}

// reassemble is prev, the outbound part of a view in an earlier snapshot
// whose own reads the changes since do not reach, with the clusters of its
// units as they are in this snapshot, where the view's index is base (every
// unit of a view is of the view's index, so this holds however many
// snapshots ago prev was built). It cannot when a route unit of prev was
// not carried over (the view's routes are its own), or a cluster unit has
// no counterpart or fails.
func (t *Translator) reassemble(prev *sharedResources, base *Index) (*sharedResources, bool) {
	viewIndex := func(*Index) (*Index, bool) { return base, true }
	if !allKept(prev.routeReads, t.carried) {
		return nil, false
	}
	recorded := prev.recordingAgain(t.units)
	moved := unitMoves{clusters: map[*clusterv3.Cluster]*clusterv3.Cluster{}, endpoints: map[*endpointv3.ClusterLoadAssignment]*endpointv3.ClusterLoadAssignment{}}
	for _, was := range prev.clusterUnits {
		u, ok := t.units.carriedOver(was)
		if !ok {
			next, known := was.in.nextSnapshot(viewIndex)
			if !known {
				return nil, false
			}
			u = t.units.portClusters(next)
		}
		recorded.took(u)
		if u.res.err != nil {
			return nil, false
		}
		moved.add(was.res, u.res)
	}
	if !moved.renamed {
		return prev.withUnits(recorded, moved), true
	}
	fromUnits := &Resources{}
	for _, u := range recorded.clusterUnits {
		fromUnits.Clusters = append(fromUnits.Clusters, u.res.clusters...)
		fromUnits.Endpoints = append(fromUnits.Endpoints, u.res.endpoints...)
	}
	return assembleShared(prev.reads, prev.scope, prev.own, recorded, fromUnits), true
}

// recordingAgain records the units of a reassembly of prev: its route
// units carried over, room for as many cluster units as it had.
func (prev *sharedResources) recordingAgain(units unitSource) *recordingUnits {
	n := len(prev.clusterUnits)
	r := &recordingUnits{units: units, routeReads: prev.routeReads,
		clusterUnits: make([]*clusterUnit, 0, n),
		unitReads:    make([]*reads, 0, n+len(prev.routeReads)),
	}
	r.unitReads = append(r.unitReads, prev.routeReads...)
	return r
}

// unitMoves maps the resources of a view's previous units to those of the
// units that replace them, when each replacing unit gives the same names
// in the same order (an endpoint or a policy changed, no subset or port
// came or went); renamed when one does not.
type unitMoves struct {
	clusters  map[*clusterv3.Cluster]*clusterv3.Cluster
	endpoints map[*endpointv3.ClusterLoadAssignment]*endpointv3.ClusterLoadAssignment
	renamed   bool
}

func (m *unitMoves) add(was, now *portClusters) {
	if was == now || m.renamed {
		return
	}
	if !sameNames(was.clusters, now.clusters, (*clusterv3.Cluster).GetName) ||
		!sameNames(was.endpoints, now.endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName) {
		m.renamed = true
		return
	}
	for i, c := range was.clusters {
		m.clusters[c] = now.clusters[i]
	}
	for i, e := range was.endpoints {
		m.endpoints[e] = now.endpoints[i]
	}
}

func sameNames[T any](a, b []T, name func(T) string) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return name(x) == name(y) })
}

// withUnits is r, a view's outbound part, with the units recorded in
// place of its own, whose resources moves maps from r's: the lists keep
// their order (the names are the same), with no sort.
func (r *sharedResources) withUnits(recorded *recordingUnits, moves unitMoves) *sharedResources {
	out := *r
	out.clusterUnits = recorded.clusterUnits
	out.unitReads, out.routeReads = recorded.unitReads, recorded.routeReads
	out.clusters = swapped(r.clusters, moves.clusters, (*clusterv3.Cluster).GetName)
	out.endpoints = swapped(r.endpoints, moves.endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName)
	return &out
}

// swapped is list, sorted by name with names unique, with the entries
// with puts in place of those it has, found by name; list itself when with
// is empty.
func swapped[T comparable](list []T, with map[T]T, name func(T) string) []T {
	if len(with) == 0 {
		return list
	}
	out := slices.Clone(list)
	for was, now := range with {
		i, found := slices.BinarySearchFunc(out, name(was), func(v T, n string) int { return strings.Compare(name(v), n) })
		if found && out[i] == was {
			out[i] = now
		}
	}
	return out
}

// assembleShared joins what a view built itself and what it took from
// units into its outbound part, each list sorted by name (a name twice is
// kept once, own resources first). The lists are clipped, so appending to
// a proxy's copy never writes into them.
func assembleShared(r *reads, scope *Scope, own *Resources, recorded *recordingUnits, fromUnits *Resources) *sharedResources {
	all := &Resources{
		Clusters:  append(slices.Clone(own.Clusters), fromUnits.Clusters...),
		Endpoints: append(slices.Clone(own.Endpoints), fromUnits.Endpoints...),
		Routes:    slices.Clone(own.Routes),
		Listeners: slices.Clone(own.Listeners),
	}
	sortResources(all)
	return &sharedResources{
		reads:        r,
		scope:        scope,
		own:          own,
		clusterUnits: recorded.clusterUnits,
		unitReads:    recorded.unitReads,
		routeReads:   recorded.routeReads,
		clusters:     slices.Clip(uniqueByName(all.Clusters, (*clusterv3.Cluster).GetName)),
		endpoints:    slices.Clip(uniqueByName(all.Endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName)),
		routes:       slices.Clip(all.Routes),
		listeners:    slices.Clip(all.Listeners),
	}
}

// recordingUnits remembers the units a view took.
type recordingUnits struct {
	units        unitSource
	clusterUnits []*clusterUnit
	unitReads    []*reads
	routeReads   []*reads
}

func (r *recordingUnits) portClusters(in portClustersInput) *clusterUnit {
	u := r.units.portClusters(in)
	r.took(u)
	return u
}

func (r *recordingUnits) virtualHost(in virtualHostInput) *routev3.VirtualHost {
	return r.units.virtualHost(in)
}

// took records u, a unit the view takes.
func (r *recordingUnits) took(u *clusterUnit) {
	r.clusterUnits = append(r.clusterUnits, u)
	r.unitReads = append(r.unitReads, u.res.reads)
}

func (r *recordingUnits) serviceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes {
	u := r.units.serviceRoutes(in, view)
	r.unitReads = append(r.unitReads, u.reads)
	r.routeReads = append(r.routeReads, u.reads)
	return u
}

// workloadResources is the inbound part of a proxy's resources, which its
// outbound view and inbound targets determine, each list sorted by name
// and validated.
type workloadResources struct {
	reads     *reads // what building them read (see InheritFrom)
	clusters  []*clusterv3.Cluster
	listeners []*listenerv3.Listener
}

// buildWorkload builds the inbound part of a view with targets.
func buildWorkload(idx *Index, v outboundView, scope *Scope, targets []inboundTarget) (*workloadResources, error) {
	p := v.proxy()
	var authz inboundAuthz
	if p.Type != model.RouterProxy { // gateways have no inbound listeners
		authz = idx.inboundAuthz(p.Namespace, p.Labels)
		authz.tracing = idx.tracingFor(p.Namespace, p.Labels, scope, telemetry.WorkloadMode_SERVER)
	}
	res := &Resources{
		Clusters:  append(inboundClusters(p, targets), authz.jwks...),
		Listeners: inboundListeners(idx, p, scope, targets, authz),
	}
	sortResources(res)
	if err := res.Validate(); err != nil {
		return nil, err
	}
	return &workloadResources{reads: idx.reads, clusters: res.Clusters, listeners: res.Listeners}, nil
}

// combine gives a proxy its outbound and inbound parts, every list sorted
// by name.
func combine(shared *sharedResources, workload *workloadResources) *Resources {
	return &Resources{
		Listeners: mergeByName(shared.listeners, workload.listeners, (*listenerv3.Listener).GetName),
		Routes:    shared.routes,
		Clusters:  mergeClusters(shared.clusters, workload.clusters),
		Endpoints: shared.endpoints,
	}
}

// mergeClusters adds inbound clusters to shared ones; a name both have keeps
// the shared cluster.
func mergeClusters(shared, inbound []*clusterv3.Cluster) []*clusterv3.Cluster {
	if len(inbound) == 0 {
		return shared
	}
	name := (*clusterv3.Cluster).GetName
	return uniqueByName(mergeByName(shared, inbound, name), name)
}

// mergeByName merges two lists sorted by name into a new one; on equal
// names, entries of a come first. With b empty it returns a itself.
func mergeByName[T any](a, b []T, name func(T) string) []T {
	if len(b) == 0 {
		return a
	}
	out := make([]T, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if name(b[0]) < name(a[0]) {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}
