package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/debounce"
)

// Registry is the discovery.Registry of one Kubernetes cluster. It is safe
// for concurrent use.
type Registry struct {
	opts    Options
	watches *watches

	mu      sync.RWMutex
	catalog *discovery.Catalog

	changes chan struct{} // to consumers; coalescing
	events  chan struct{} // from informers; coalescing
	synced  chan struct{} // closed once the first full catalog is in place
	started atomic.Bool
}

var _ discovery.Registry = (*Registry)(nil)

// New returns a registry that watches the cluster behind client once Run is
// called. Its catalog is empty until then.
func New(client kubernetes.Interface, opts Options) (*Registry, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		opts:    opts,
		catalog: discovery.NewCatalog(nil, nil),
		changes: make(chan struct{}, 1),
		events:  make(chan struct{}, 1),
		synced:  make(chan struct{}),
	}
	r.watches, err = newWatches(client, opts, r.event)
	if err != nil {
		return nil, fmt.Errorf("kube registry %s: %w", opts.ClusterID, err)
	}
	return r, nil
}

// NewFromKubeconfig returns a registry for the cluster of a kubeconfig file
// (KUBECONFIG or ~/.kube/config when path is empty), in its context
// opts.KubeContext or its current one.
func NewFromKubeconfig(path string, opts Options) (*Registry, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.KubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube registry %s: load kubeconfig %q: %w", opts.ClusterID, path, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube registry %s: client for %s: %w", opts.ClusterID, cfg.Host, err)
	}
	return New(client, opts)
}

// Name is the cluster ID.
func (r *Registry) Name() string { return r.opts.ClusterID }

// Catalog returns the current catalog; never nil.
func (r *Registry) Catalog() *discovery.Catalog {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.catalog
}

// Changes receives a value after the catalog changed. Sends coalesce.
func (r *Registry) Changes() <-chan struct{} { return r.changes }

// HasSynced reports whether the catalog reflects the whole cluster: every
// informer has listed its objects and the catalog was built from them.
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
// rebuilds it, debounced, after every relevant change. It returns after ctx
// ends and the informers have stopped. Run may be called once.
func (r *Registry) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return fmt.Errorf("kube registry %s: Run called twice", r.opts.ClusterID)
	}
	r.watches.factory.Start(ctx.Done())
	defer r.watches.factory.Shutdown()
	informersSynced := make(chan bool, 1)
	go func() { informersSynced <- cache.WaitForCacheSync(ctx.Done(), r.watches.synced...) }()
	r.loop(ctx, informersSynced)
	return nil
}

// event is called by the informers' handlers.
func (r *Registry) event() { debounce.Signal(r.events) }

// loop builds the first catalog when the informers have synced, then
// rebuilds it once events have been quiet for Debounce, or DebounceMax after
// the first unhandled one. Events before the sync are covered by the first
// build. Builds run one at a time, on this goroutine.
func (r *Registry) loop(ctx context.Context, informersSynced <-chan bool) {
	select {
	case <-ctx.Done():
		return
	case ok := <-informersSynced:
		if !ok {
			return
		}
	}
	select {
	case <-r.events: // covered by the first build
	default:
	}
	r.rebuild()
	close(r.synced)
	r.opts.Logger.Info("kubernetes registry synced", "cluster", r.opts.ClusterID,
		"services", len(r.Catalog().Services()))
	debounce.Loop(ctx, r.events, r.opts.Debounce, r.opts.DebounceMax, r.rebuild)
}

// rebuild builds a catalog from the caches and, if it differs from the
// current one, installs it and signals Changes.
func (r *Registry) rebuild() {
	start := time.Now()
	next, err := r.watches.builder.build()
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
	r.mu.Unlock()
	r.opts.Logger.Debug("kubernetes catalog rebuilt", "cluster", r.opts.ClusterID, "changed", changed,
		"services", len(next.Services()), "duration", time.Since(start))
	if changed {
		debounce.Signal(r.changes)
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
