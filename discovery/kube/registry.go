package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/statefile"
)

// Registry is the discovery.Registry of one Kubernetes cluster. It is safe
// for concurrent use.
type Registry struct {
	opts   Options
	client kubernetes.Interface
	state  *statefile.File // nil without Options.StateDir

	buildMu sync.Mutex // one build and install at a time; never held across a network call

	mu      sync.RWMutex
	catalog *discovery.Catalog
	health  health
	active  *generation // the informers the catalog is built from; nil before the first sync

	changes  chan struct{} // to consumers; coalescing
	events   chan struct{} // from the active informers; coalescing
	synced   chan struct{} // closed once the first live catalog is in place
	syncOnce sync.Once
	started  atomic.Bool
}

var _ discovery.Registry = (*Registry)(nil)

// New returns a registry that watches the cluster behind client once Run is
// called. Until then its catalog is the one last written to
// Options.StateDir, marked stale, or else empty.
func New(client kubernetes.Interface, opts Options) (*Registry, error) {
	return newRegistry(client, opts, nil)
}

// newRegistry is New, serving seed (stale) until the first sync when seed
// is not nil: the catalog of the registry this one replaces.
func newRegistry(client kubernetes.Interface, opts Options, seed *discovery.Catalog) (*Registry, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		opts:    opts,
		client:  client,
		catalog: discovery.NewCatalog(nil, nil),
		changes: make(chan struct{}, 1),
		events:  make(chan struct{}, 1),
		synced:  make(chan struct{}),
	}
	if opts.StateDir != "" {
		r.state = statefile.New(opts.StateDir, opts.ClusterID, opts.Logger)
	}
	switch {
	case seed != nil:
		r.catalog = seed
		r.health.staleSince = time.Now()
	case r.state != nil:
		r.restoreState()
	}
	return r, nil
}

// restoreState serves the catalog of the state file, if there is a good
// one, until the first live sync.
func (r *Registry) restoreState() {
	cat, written, err := r.state.Load()
	if err != nil {
		r.opts.Logger.Warn("kubernetes state file ignored", "cluster", r.opts.ClusterID, "file", r.state.Path(), "error", err)
		return
	}
	if cat == nil {
		return
	}
	r.catalog = cat
	r.health = health{fromState: true, staleSince: time.Now(), lastSync: written}
	r.opts.Logger.Info("kubernetes cluster served from its state file until it is listed", "cluster", r.opts.ClusterID,
		"file", r.state.Path(), "written", written, "services", len(cat.Services()))
	debounce.Signal(r.changes)
}

// NewFromKubeconfig returns a registry for the cluster of a kubeconfig file
// (KUBECONFIG or ~/.kube/config when path is empty), in its context
// opts.KubeContext or its current one. The file may use everything a
// kubeconfig can (exec plugins, files): it is the operator's own.
func NewFromKubeconfig(path string, opts Options) (*Registry, error) {
	cfg, err := LoadKubeconfig(path, opts.KubeContext)
	if err != nil {
		return nil, fmt.Errorf("kube registry %s: %w", opts.ClusterID, err)
	}
	return NewForConfig(cfg, opts)
}

// NewForConfig returns a registry for the cluster cfg reaches.
func NewForConfig(cfg *rest.Config, opts Options) (*Registry, error) {
	client, err := NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube registry %s: client for %s: %w", opts.ClusterID, cfg.Host, err)
	}
	return New(client, opts)
}

// Name is the cluster ID.
func (r *Registry) Name() string { return r.opts.ClusterID }

// Client is the client of the cluster's API server (for its TokenReview
// API, say).
func (r *Registry) Client() kubernetes.Interface { return r.client }

// Catalog returns the current catalog; never nil. While the cluster is
// stale (see Status) it is the last one known.
func (r *Registry) Catalog() *discovery.Catalog {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.catalog
}

// Changes receives a value after the catalog changed. Sends coalesce.
func (r *Registry) Changes() <-chan struct{} { return r.changes }

// HasSynced reports whether the catalog has reflected the whole cluster:
// every informer has listed its objects and the catalog was built from
// them. It stays true through later outages (see Status).
func (r *Registry) HasSynced() bool {
	select {
	case <-r.synced:
		return true
	default:
		return false
	}
}

// WaitForSync blocks until HasSynced or ctx ends; it returns ctx's error
// in the latter case.
func (r *Registry) WaitForSync(ctx context.Context) error {
	select {
	case <-r.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kube registry %s: waiting for sync: %w", r.opts.ClusterID, ctx.Err())
	}
}

// Run starts the informers, builds the catalog once they have synced and
// rebuilds it, debounced, after every relevant change. When the cluster's
// watches fail it keeps the catalog, probes the API server every second
// and, once it answers, lists the cluster again with new informers. It
// returns after ctx ends and every informer has stopped. Run may be called
// once.
func (r *Registry) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return fmt.Errorf("kube registry %s: Run called twice", r.opts.ClusterID)
	}
	var wg sync.WaitGroup
	wg.Go(func() { debounce.Loop(ctx, r.events, r.opts.Debounce, r.opts.DebounceMax, r.rebuild) })
	if r.state != nil {
		wg.Go(func() { r.state.Run(ctx) })
	}
	newSupervisor(ctx, r).run()
	wg.Wait()
	return nil
}

// event is called by the informers' handlers of generation g.
func (r *Registry) event(g *generation) {
	r.mu.RLock()
	active := r.active == g
	r.mu.RUnlock()
	if active { // a candidate's events are covered by its first build
		debounce.Signal(r.events)
	}
}

// install makes g, whose informers have synced, the registry's source:
// it builds the catalog from g, ends any outage and retires the previous
// generation (the caller stops its informers).
func (r *Registry) install(g *generation) {
	r.buildMu.Lock()
	defer r.buildMu.Unlock()
	r.mu.Lock()
	if r.active != nil {
		r.active.retired = true
	}
	r.active = g // from now on g's events rebuild, so none is lost during this build
	r.mu.Unlock()
	next, err := g.watches.builder.build()
	now := time.Now()
	r.mu.Lock()
	changed := err == nil && !r.catalog.Equal(next)
	if changed {
		r.catalog = next
	}
	var cur *discovery.Catalog
	if err == nil {
		cur = r.catalog
	}
	was := r.health
	r.health = health{synced: true, lastSync: now}
	r.mu.Unlock()
	if err != nil {
		r.opts.Logger.Error("kubernetes catalog not built; keeping the previous one", "cluster", r.opts.ClusterID, "error", err)
	}
	r.syncOnce.Do(func() {
		close(r.synced)
		r.opts.Logger.Info("kubernetes registry synced", "cluster", r.opts.ClusterID,
			"services", len(r.Catalog().Services()), "replaced_state", was.fromState)
	})
	if !was.outageStart.IsZero() {
		r.opts.Logger.Warn("kubernetes cluster reachable again; its catalog is current", "cluster", r.opts.ClusterID,
			"outage", now.Sub(was.outageStart).Round(time.Millisecond), "changed", changed)
	}
	r.installed(cur, changed)
}

// rebuild builds a catalog from the active informers' caches and, if it
// differs from the current one, installs it and signals Changes.
func (r *Registry) rebuild() {
	r.buildMu.Lock()
	defer r.buildMu.Unlock()
	r.mu.RLock()
	g := r.active
	r.mu.RUnlock()
	if g == nil {
		return
	}
	start := time.Now()
	next, err := g.watches.builder.build()
	if err != nil {
		r.opts.Logger.Error("kubernetes catalog not rebuilt; keeping the previous one",
			"cluster", r.opts.ClusterID, "error", err)
		return
	}
	r.mu.Lock()
	changed := !r.catalog.Equal(next)
	if changed {
		r.catalog = next
	}
	cur := r.catalog
	r.mu.Unlock()
	r.opts.Logger.Debug("kubernetes catalog rebuilt", "cluster", r.opts.ClusterID, "changed", changed,
		"services", len(next.Services()), "duration", time.Since(start))
	r.installed(cur, changed)
}

// installed tells consumers and the state file about the current catalog,
// just built from the cluster (nil when the build failed). An unchanged
// build passes the catalog already current, not its equal copy, so the
// state file can tell it has written it by identity alone.
func (r *Registry) installed(cur *discovery.Catalog, changed bool) {
	if changed {
		debounce.Signal(r.changes)
	}
	if r.state != nil && cur != nil {
		r.state.Offer(cur)
	}
}

// Start runs r in the background (see Run) and waits, at most syncTimeout,
// for its first catalog. stop ends it and returns once Run has returned,
// with Run's error.
func (r *Registry) Start(ctx context.Context, syncTimeout time.Duration) (stop func() error, err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop = func() error {
		cancel()
		return <-done
	}
	wait, waitDone := context.WithTimeout(ctx, syncTimeout)
	defer waitDone()
	if err := r.WaitForSync(wait); err != nil {
		return nil, errors.Join(err, stop())
	}
	return stop, nil
}
