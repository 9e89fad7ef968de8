package consul

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/statefile"
)

// maxIdleConns keeps one idle connection per blocking query between its
// answers, for a Consul with many services.
const maxIdleConns = 10000

// Registry is the discovery.Registry of one Consul datacenter. It is safe
// for concurrent use.
type Registry struct {
	opts    Options
	client  *api.Client
	state   *statefile.File // nil without Options.StateDir
	changes chan struct{}   // to consumers; coalescing
	dirty   chan struct{}   // a watched service changed; coalescing
	synced  chan struct{}   // closed once every listed service has answered
	once    sync.Once
	started atomic.Bool

	mu      sync.RWMutex
	catalog *discovery.Catalog
	dc      string // the agent's datacenter, once known
	health  health

	watchMu sync.Mutex
	watches map[string]*watch // by Consul service name
	listed  bool              // the service list has been read once
}

// watch is one Consul service's blocking query and what it last answered.
type watch struct {
	cancel   context.CancelFunc
	answered bool
	built    built
	problems string // the problems last logged
}

var _ discovery.Registry = (*Registry)(nil)

// New returns a registry for the Consul agent at opts.Address; it reads
// nothing from Consul until Run. Until then its catalog is the state
// file's, marked stale, or else empty.
func New(opts Options) (*Registry, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client, err := newClient(opts.Address, opts.Token, opts.TokenFile)
	if err != nil {
		return nil, err
	}
	r := &Registry{opts: opts, client: client, catalog: discovery.NewCatalog(nil, nil),
		changes: make(chan struct{}, 1), dirty: make(chan struct{}, 1), synced: make(chan struct{}), watches: map[string]*watch{}}
	if opts.StateDir != "" {
		r.state = statefile.New(opts.StateDir, opts.stateName(), opts.Logger)
		r.restoreState()
	}
	return r, nil
}

// newClient is a client of the agent at address: the CONSUL_HTTP_*
// environment applies, token and tokenFile override its token.
func newClient(address, token, tokenFile string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = address
	if token != "" {
		cfg.Token = token
	}
	if tokenFile != "" {
		cfg.TokenFile = tokenFile
	}
	cfg.Transport.MaxIdleConnsPerHost = maxIdleConns
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul %s: client: %w", address, err)
	}
	return client, nil
}

// restoreState serves the state file's catalog, if there is a good one,
// until Consul has answered for every service.
func (r *Registry) restoreState() {
	cat, written, err := r.state.Load()
	if err != nil {
		r.opts.Logger.Warn("consul state file ignored", "consul", r.opts.Address, "file", r.state.Path(), "error", err)
		return
	}
	if cat == nil {
		return
	}
	r.catalog = cat
	if svcs := cat.Services(); len(svcs) > 0 && r.opts.Name == "" {
		r.dc = svcs[0].Registry // the datacenter it was read from
	}
	r.health = health{fromState: true, staleSince: time.Now(), lastSync: written}
	r.opts.Logger.Info("consul served from its state file until it answers", "consul", r.Name(),
		"file", r.state.Path(), "written", written, "services", len(cat.Services()))
	debounce.Signal(r.changes)
}

// Name is the cluster id: Options.Name, else the datacenter once known,
// else the address.
func (r *Registry) Name() string {
	if r.opts.Name != "" {
		return r.opts.Name
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.dc != "" {
		return r.dc
	}
	return r.opts.Address
}

// Catalog returns the current catalog; never nil. While Consul is
// unreachable (see Status) it is the last one known.
func (r *Registry) Catalog() *discovery.Catalog {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.catalog
}

// Changes receives a value after the catalog changed. Sends coalesce.
func (r *Registry) Changes() <-chan struct{} { return r.changes }

// HasSynced reports whether the catalog has reflected every service Consul
// listed at least once.
func (r *Registry) HasSynced() bool {
	select {
	case <-r.synced:
		return true
	default:
		return false
	}
}

// WaitForSync blocks until HasSynced or ctx ends.
func (r *Registry) WaitForSync(ctx context.Context) error {
	select {
	case <-r.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("consul %s: waiting for sync: %w", r.Name(), ctx.Err())
	}
}

// Run reads the agent's datacenter, then watches the service list and each
// service's health with blocking queries until ctx ends; it returns once
// every query has stopped and the state file is written. Run may be called
// once.
func (r *Registry) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return fmt.Errorf("consul %s: Run called twice", r.Name())
	}
	var wg sync.WaitGroup
	if r.state != nil {
		wg.Go(func() { r.state.Run(ctx) })
	}
	wg.Go(func() { debounce.Loop(ctx, r.dirty, r.opts.Debounce, r.opts.DebounceMax, r.rebuild) })
	if r.learnDatacenter(ctx) {
		r.watchServices(ctx, &wg)
	}
	wg.Wait()
	return nil
}

// rebuild builds the catalog from every service's last answer and, if it
// differs, installs it and signals Changes. Before every listed service has
// answered once, the catalog (the state file's, say) is kept.
func (r *Registry) rebuild() {
	services, endpoints, complete := r.collect()
	if !complete {
		return
	}
	now := time.Now()
	next := discovery.NewCatalog(services, endpoints)
	r.mu.Lock()
	changed := !r.catalog.Equal(next)
	if changed {
		r.catalog = next
	}
	cur, first := r.catalog, !r.health.synced
	if first {
		r.health.synced, r.health.fromState, r.health.lastSync = true, false, now
		if r.health.outageStart.IsZero() {
			r.health.staleSince = time.Time{}
		}
	}
	r.mu.Unlock()
	if first {
		r.once.Do(func() { close(r.synced) })
		r.opts.Logger.Info("consul registry synced", "consul", r.Name(), "services", len(cur.Services()))
	}
	r.opts.Logger.Debug("consul catalog rebuilt", "consul", r.Name(), "changed", changed, "services", len(next.Services()),
		"duration", time.Since(now))
	if changed {
		debounce.Signal(r.changes)
	}
	if r.state != nil {
		r.state.Offer(cur)
	}
}

// collect gathers every service's last answer; complete is false until
// the service list and every service on it have answered once.
func (r *Registry) collect() (services []*discovery.Service, endpoints map[discovery.ServiceKey][]*discovery.Endpoint, complete bool) {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	if !r.listed {
		return nil, nil, false
	}
	endpoints = map[discovery.ServiceKey][]*discovery.Endpoint{}
	for _, name := range slices.Sorted(maps.Keys(r.watches)) { // two names, one host: the same one first
		w := r.watches[name]
		if !w.answered {
			return nil, nil, false
		}
		if s := w.built.svc; s != nil {
			services = append(services, s)
			endpoints[s.ServiceKey] = append(endpoints[s.ServiceKey], w.built.endpoints...)
		}
	}
	return services, endpoints, true
}
