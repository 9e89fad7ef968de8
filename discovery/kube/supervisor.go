package kube

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	kubediscovery "k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Timing of the recovery from an outage. client-go's reflectors back off
// up to 30 s (with jitter, up to a minute) before they list again; the
// registry instead probes the API server every probeInterval and, once it
// answers, lists the cluster with new informers.
const (
	probeInterval   = time.Second
	probeTimeout    = 2 * time.Second
	maxRestartDelay = 30 * time.Second
)

// generation is one set of informers on the cluster. A registry starts a
// new generation after an outage and swaps it in once it has synced.
type generation struct {
	watches  *watches
	ctx      context.Context
	cancel   context.CancelFunc
	synced   chan struct{} // closed once every informer has listed
	troubled atomic.Bool   // a list or watch failed
	retired  bool          // guarded by Registry.mu: replaced, its errors no longer count
}

// supervisor runs a registry's generations: the active one, whose caches
// the catalog is built from, and a candidate listing the cluster anew.
// Its state belongs to its goroutine.
type supervisor struct {
	r        *Registry
	ctx      context.Context
	active   *generation
	cand     *generation
	stopping sync.WaitGroup // generations shutting down, probes in flight
	probing  bool
	probed   chan error
	// failures counts candidates given up since the last install;
	// notBefore delays the next one, so a cluster that answers probes but
	// refuses lists is not listed again every second.
	failures  int
	notBefore time.Time
}

func newSupervisor(ctx context.Context, r *Registry) *supervisor {
	return &supervisor{r: r, ctx: ctx, probed: make(chan error, 1)}
}

// run starts the first generation and handles syncs and probes until ctx
// ends; it returns once every informer has stopped.
func (s *supervisor) run() {
	defer s.stopping.Wait()
	if s.ctx.Err() != nil {
		return
	}
	s.cand = s.start()
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		var synced <-chan struct{}
		if s.cand != nil {
			synced = s.cand.synced
		}
		select {
		case <-s.ctx.Done():
			s.retire(s.cand)
			s.retire(s.active)
			return
		case <-synced:
			s.installCandidate()
		case <-tick.C:
			s.probe()
		case err := <-s.probed:
			s.probing = false
			if err != nil {
				s.r.opts.Logger.Debug("kubernetes API server probe failed", "cluster", s.r.opts.ClusterID, "error", err)
				continue
			}
			s.restart()
		}
	}
}

// start begins a generation of informers.
func (s *supervisor) start() *generation {
	g := &generation{synced: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(s.ctx)
	w, err := newWatches(s.r.client, s.r.opts, func() { s.r.event(g) },
		func(ctx context.Context, err error) { s.r.trouble(g, ctx, err) })
	if err != nil { // new informers accept handlers; this is not expected
		s.r.opts.Logger.Error("kubernetes informers not started", "cluster", s.r.opts.ClusterID, "error", err)
		s.r.trouble(g, s.ctx, err)
		return g
	}
	g.watches = w
	w.factory.Start(g.ctx.Done())
	s.stopping.Go(func() {
		if cache.WaitForCacheSync(g.ctx.Done(), w.synced...) {
			close(g.synced)
		}
	})
	return g
}

// installCandidate swaps in the candidate, which has synced.
func (s *supervisor) installCandidate() {
	g, old := s.cand, s.active
	s.cand, s.active = nil, g
	s.r.install(g)
	s.retire(old)
	s.failures, s.notBefore = 0, time.Time{}
}

// retire stops g's informers in the background.
func (s *supervisor) retire(g *generation) {
	if g == nil {
		return
	}
	s.r.mu.Lock()
	g.retired = true
	s.r.mu.Unlock()
	g.cancel()
	if g.watches != nil {
		s.stopping.Go(g.watches.factory.Shutdown)
	}
}

// probe asks the API server whether it is back, during an outage, one
// probe at a time.
func (s *supervisor) probe() {
	if s.probing || !s.r.inOutage() {
		return
	}
	s.probing = true
	s.stopping.Go(func() { s.probed <- s.r.probe(s.ctx) })
}

// restart lists the cluster with new informers after a successful probe,
// unless a candidate that has seen no error is listing already.
func (s *supervisor) restart() {
	if !s.r.inOutage() || (s.cand != nil && !s.cand.troubled.Load()) {
		return
	}
	now := time.Now()
	if now.Before(s.notBefore) {
		return
	}
	if s.cand != nil {
		s.failures++
		s.retire(s.cand)
	}
	s.notBefore = now.Add(restartDelay(s.failures))
	s.cand = s.start()
	s.r.opts.Logger.Debug("kubernetes API server answers; listing the cluster again", "cluster", s.r.opts.ClusterID)
}

// restartDelay is how long to wait before giving up on the next candidate
// after n failed ones: none for the first, then doubling from a second.
func restartDelay(n int) time.Duration {
	if n == 0 {
		return 0
	}
	return min(probeInterval<<min(n-1, 10), maxRestartDelay)
}

// probe asks the API server for /readyz (a real client) or its version (a
// fake one), with a short timeout.
func (r *Registry) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	d := r.client.Discovery()
	if rc, ok := d.RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc.Get().AbsPath("/readyz").Do(ctx).Error()
	}
	_, err := kubediscovery.ToServerVersionInterfaceWithContext(d).ServerVersionWithContext(ctx)
	return err
}
