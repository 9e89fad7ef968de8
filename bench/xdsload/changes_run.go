package xdsload

import (
	"context"
	"sync"
	"time"
)

// runChanges makes the scenario's changes at the configured rate, then
// waits until every concerned proxy has each change or the settle timeout
// passes.
func (r *runner) runChanges(ctx context.Context, name string) ScenarioResult {
	res := ScenarioResult{Name: name}
	maker, err := r.mesh.maker(name)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	before := r.counters()
	var log changeLog
	r.progress.track(func() (string, int, int) {
		changes := log.list()
		return name, observedOf(changes), affectedOf(changes)
	})
	r.profileCPU(ctx, "cpu-"+name+".pprof")
	start := time.Now()
	interval := time.Duration(float64(time.Second) / r.opts.Rate)
	for seq := 0; seq < r.opts.Changes && ctx.Err() == nil; seq++ {
		waitUntil(ctx, start.Add(time.Duration(seq)*interval))
		c, err := r.makeChange(name, seq, maker)
		if err != nil {
			res.Error = err.Error()
			break
		}
		log.add(c)
		if serialScenarios[name] && seq+1 < r.opts.Changes {
			r.waitPending(ctx)
		}
	}
	r.settle(ctx, name)
	res.Duration = time.Since(start)
	r.summarise(&res, log.list())
	r.measure(&res, before)
	return res
}

// makeChange registers change seq at every proxy, then applies it.
func (r *runner) makeChange(name string, seq int, maker changeMaker) (*Change, error) {
	desc, det, apply, err := maker(seq)
	if err != nil {
		return nil, err
	}
	c := &Change{Scenario: name, Seq: seq, Desc: desc}
	for _, p := range r.proxies {
		p.watch(c, det)
	}
	c.markApplied()
	if err := apply(); err != nil {
		return nil, err
	}
	r.log.Debug("change applied", "scenario", name, "seq", seq, "change", desc)
	return c, nil
}

// serialScenarios make each change only after the previous one reached
// every proxy (or the settle timeout passed): their changes cannot be told
// apart once coalesced (a mesh-wide mode set back to an earlier value).
var serialScenarios = map[string]bool{ScenarioMeshWideChange: true}

// settle waits until no proxy has a pending change of the scenario, or the
// settle timeout passes, then forgets what is still pending.
func (r *runner) settle(ctx context.Context, name string) {
	r.waitPending(ctx)
	for _, p := range r.proxies {
		p.forget(name)
	}
}

// waitPending waits until no proxy has a pending change, or the settle
// timeout passes.
func (r *runner) waitPending(ctx context.Context) {
	deadline := time.After(r.opts.SettleTimeout)
	for r.pending() > 0 && sleepOrDone(ctx, deadline) {
	}
}

func (r *runner) pending() int {
	n := 0
	for _, p := range r.proxies {
		n += p.pending()
	}
	return n
}

// summarise pools the latencies of every change of a scenario.
func (r *runner) summarise(res *ScenarioResult, changes []*Change) {
	var all []time.Duration
	for _, c := range changes {
		affected, lat := c.Outcome()
		res.Affected += affected
		all = append(all, lat...)
	}
	res.Changes = len(changes)
	res.Observed = len(all)
	res.Missed = res.Affected - res.Observed
	res.Latency = percentiles(all)
}

func observedOf(changes []*Change) int {
	n := 0
	for _, c := range changes {
		_, lat := c.Outcome()
		n += len(lat)
	}
	return n
}

func affectedOf(changes []*Change) int {
	n := 0
	for _, c := range changes {
		a, _ := c.Outcome()
		n += a
	}
	return n
}

// waitUntil sleeps until t or until ctx ends.
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// changeLog is the list of a scenario's changes, read by progress reports
// while the scenario appends to it.
type changeLog struct {
	mu      sync.Mutex
	changes []*Change
}

func (l *changeLog) add(c *Change) {
	l.mu.Lock()
	l.changes = append(l.changes, c)
	l.mu.Unlock()
}

func (l *changeLog) list() []*Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Change(nil), l.changes...)
}
