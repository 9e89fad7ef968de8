package consul

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// catalogKey names the service list's query among the failing ones.
const catalogKey = ""

// answerTimeout is how long a query may go unanswered beyond what it asked
// for (nothing for the agent's self, WaitTime for a blocking query) before
// Consul counts as unreachable.
const answerTimeout = 5 * time.Second

// learnDatacenter asks the agent for its datacenter until it answers or
// ctx ends (false).
func (r *Registry) learnDatacenter(ctx context.Context) bool {
	retry := r.newRetry()
	for {
		dc, err := r.agentDatacenter(ctx)
		if err == nil {
			r.mu.Lock()
			r.dc = dc
			r.mu.Unlock()
			return true
		}
		r.trouble(ctx, "agent", err)
		if !retry.wait(ctx) {
			return false
		}
	}
}

// agentDatacenter is the datacenter /v1/agent/self reports. An agent that
// does not answer within answerTimeout is trouble; its answer is still
// waited for, since the client's call takes no context.
func (r *Registry) agentDatacenter(ctx context.Context) (string, error) {
	type answer struct {
		dc  string
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		dc, err := r.selfDatacenter()
		answers <- answer{dc, err}
	}()
	timer := time.NewTimer(answerTimeout)
	defer timer.Stop()
	for {
		select {
		case a := <-answers:
			return a.dc, a.err
		case <-timer.C:
			r.trouble(ctx, "agent", fmt.Errorf("/v1/agent/self: no answer within %v", answerTimeout))
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (r *Registry) selfDatacenter() (string, error) {
	self, err := r.client.Agent().Self()
	if err != nil {
		return "", err
	}
	dc, _ := self["Config"]["Datacenter"].(string)
	if dc == "" {
		return "", errors.New("/v1/agent/self: the agent reports no Config.Datacenter")
	}
	return dc, nil
}

// query is the options of a blocking query at index, bounded by ctx and,
// should Consul hold it past its wait, by answerTimeout more (Consul adds
// up to WaitTime/16 of jitter).
func (r *Registry) query(ctx context.Context, index uint64) (*api.QueryOptions, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.WaitTime+r.opts.WaitTime/16+answerTimeout)
	return (&api.QueryOptions{WaitIndex: index, WaitTime: r.opts.WaitTime}).WithContext(ctx), cancel
}

// watchServices follows the service list with a blocking query and keeps
// one watch per service on it, until ctx ends.
func (r *Registry) watchServices(ctx context.Context, wg *sync.WaitGroup) {
	r.recovered("agent")
	retry := r.newRetry()
	var index uint64
	for ctx.Err() == nil {
		q, cancel := r.query(ctx, index)
		names, meta, err := r.client.Catalog().Services(q)
		cancel()
		if err != nil {
			r.trouble(ctx, catalogKey, err)
			retry.wait(ctx)
			continue
		}
		retry.reset()
		r.recovered(catalogKey)
		index = nextIndex(index, meta.LastIndex)
		r.reconcile(ctx, wg, names)
	}
	r.stopWatches()
}

// reconcile starts a watch for every service newly listed and stops those
// of services gone.
func (r *Registry) reconcile(ctx context.Context, wg *sync.WaitGroup, names map[string][]string) {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	changed := !r.listed
	r.listed = true
	for name, w := range r.watches {
		if _, ok := names[name]; !ok {
			w.cancel()
			delete(r.watches, name)
			r.recovered(name)
			changed = true
		}
	}
	for name := range names {
		if _, ok := r.watches[name]; ok || name == consulItself {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		r.watches[name] = &watch{cancel: cancel}
		wg.Go(func() { r.watchService(wctx, name) })
	}
	if changed {
		debounce.Signal(r.dirty)
	}
}

// stopWatches cancels every service's watch.
func (r *Registry) stopWatches() {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	for _, w := range r.watches {
		w.cancel()
	}
}

// watchService follows one service's instances and checks with a blocking
// query until ctx ends (the service left the list, or the registry stops).
func (r *Registry) watchService(ctx context.Context, name string) {
	retry := r.newRetry()
	var index uint64
	for ctx.Err() == nil {
		q, cancel := r.query(ctx, index)
		entries, meta, err := r.client.Health().Service(name, "", false, q)
		cancel()
		if err != nil {
			r.trouble(ctx, name, err)
			retry.wait(ctx)
			continue
		}
		retry.reset()
		r.recovered(name)
		index = nextIndex(index, meta.LastIndex)
		r.update(name, r.mapping().build(name, entries))
	}
}

// mapping is the mapping of the registry's options and datacenter.
func (r *Registry) mapping() mapping {
	r.mu.RLock()
	dc := r.dc
	r.mu.RUnlock()
	cluster := r.opts.Name
	if cluster == "" {
		cluster = dc
	}
	return mapping{cluster: cluster, datacenter: dc, suffix: r.opts.Suffix, namespace: r.opts.Namespace, includeWarning: r.opts.IncludeWarning}
}

// update records a service's answer; a different one (or the first)
// schedules a rebuild. New problems are logged, one ERROR line each.
func (r *Registry) update(name string, b built) {
	r.watchMu.Lock()
	w, ok := r.watches[name]
	if !ok { // left the list meanwhile
		r.watchMu.Unlock()
		return
	}
	changed := !w.answered || !reflect.DeepEqual(w.built.svc, b.svc) || !reflect.DeepEqual(w.built.endpoints, b.endpoints)
	w.answered, w.built = true, b
	problems := joinErrors(b.problems)
	newProblems := problems != w.problems
	w.problems = problems
	r.watchMu.Unlock()
	if newProblems {
		for _, p := range b.problems {
			r.opts.Logger.Error("consul instance left out; the service's other instances are served", "consul", r.Name(), "error", p)
		}
	}
	if changed {
		debounce.Signal(r.dirty)
	}
}

func joinErrors(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// nextIndex is the WaitIndex of the next blocking query after an answer
// at index got, following Consul's rules: an index that went backwards
// (a restored or new cluster) starts over with a non-blocking read (0); an
// index of 0 after an answer is raised to 1, so the next query blocks.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got == 0:
		return 1
	}
	return got
}

// retry spaces the attempts of a failing query: RetryMin, doubling up to
// RetryMax.
type retry struct {
	min, max, next time.Duration
}

func (r *Registry) newRetry() *retry { return newRetry(r.opts.RetryMin, r.opts.RetryMax) }

func newRetry(min, max time.Duration) *retry { return &retry{min: min, max: max, next: min} }

func (t *retry) reset() { t.next = t.min }

// wait sleeps before the next attempt; false when ctx ended first.
func (t *retry) wait(ctx context.Context) bool {
	timer := time.NewTimer(t.next)
	defer timer.Stop()
	t.next = min(2*t.next, t.max)
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
