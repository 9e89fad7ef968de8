package translate

import (
	"fmt"
	"slices"
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

	mu     sync.Mutex
	shared map[outboundView]*sharedEntry
}

// sharedEntry is the outbound part of one view, built by whichever proxy
// needs it first while the others wait, and the inbound parts of the view.
type sharedEntry struct {
	once sync.Once
	res  *sharedResources
	err  error
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

// Translate builds the resources of proxy p.
func (t *Translator) Translate(p *model.Proxy) (*Resources, error) {
	idx := t.idx.ForCluster(p.ClusterID)
	v := viewOf(idx, p)
	e := t.entry(v)
	e.once.Do(func() {
		e.res, e.err = safely(func() (*sharedResources, error) { return buildShared(idx.recording(newReads()), v, t.units) })
		e.built.Store(true)
	})
	if e.err != nil {
		return nil, fmt.Errorf("translate proxy %s: %w", p.ID, e.err)
	}
	w := e.workload(inboundTargets(idx, p, e.res.scope))
	w.once.Do(func() {
		w.res, w.err = safely(func() (*workloadResources, error) {
			return buildWorkload(idx.recording(newReads()), v, e.res.scope, w.targets)
		})
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
	// units are the reads of the units the view took (see unitSource).
	units     []*reads
	scope     *Scope
	clusters  []*clusterv3.Cluster // outbound and fixed clusters
	endpoints []*endpointv3.ClusterLoadAssignment
	routes    []*routev3.RouteConfiguration
	listeners []*listenerv3.Listener // outbound listeners and virtualOutbound
}

// buildShared builds the outbound part of a view, taking the clusters of
// each service port from units. The lists are clipped, so appending to a
// proxy's copy never writes into them.
func buildShared(idx *Index, v outboundView, units unitSource) (*sharedResources, error) {
	p := v.proxy()
	scope := idx.scopeOf(v.namespace, idx.configObject(v.sidecar))
	recorded := &recordingUnits{units: units}
	res, own, err := sharedClusters(idx, p, scope, recorded)
	if err != nil {
		return nil, err
	}
	own.Routes = buildRoutes(idx, p, scope, recorded)
	own.Listeners = sharedListeners(idx, p, scope, v.targetPorts)
	res.Routes, res.Listeners = own.Routes, own.Listeners
	sortResources(res)
	if err := own.Validate(); err != nil {
		return nil, err
	}
	return &sharedResources{
		reads:     idx.reads,
		units:     recorded.used,
		scope:     scope,
		clusters:  slices.Clip(res.Clusters),
		endpoints: slices.Clip(res.Endpoints),
		routes:    slices.Clip(res.Routes),
		listeners: slices.Clip(res.Listeners),
	}, nil
}

// recordingUnits remembers the units a view took, by their reads.
type recordingUnits struct {
	units unitSource
	used  []*reads
}

func (r *recordingUnits) portClusters(in portClustersInput) *portClusters {
	u := r.units.portClusters(in)
	r.used = append(r.used, u.reads)
	return u
}

func (r *recordingUnits) serviceRoutes(in serviceRoutesInput, view *proxyView) *serviceRoutes {
	u := r.units.serviceRoutes(in, view)
	r.used = append(r.used, u.reads)
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
