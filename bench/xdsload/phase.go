package xdsload

import (
	"context"
	"sync/atomic"
	"time"
)

// Phase is a scenario of a Fleet whose changes the caller makes itself, at
// its own pace and possibly from several goroutines at once (a churn
// against an API server): Track each change before making it, MarkApplied
// once it is made, then Finish.
type Phase struct {
	f      *Fleet
	name   string
	before counters
	start  time.Time
	seq    atomic.Int64
	log    changeLog
}

// StartPhase begins a phase. Its traffic, the control plane's cost and
// metrics are counted from now (what happened since the previous scenario
// ended is left out).
func (f *Fleet) StartPhase(name string) *Phase {
	r := f.r
	if r.cost != nil {
		if at, _, err := r.cost.window(); err == nil {
			r.costAt = at
		}
	}
	if r.metrics != nil {
		if at, err := r.metrics.scrape(context.Background()); err == nil {
			r.metricsAt = at
		}
	}
	ph := &Phase{f: f, name: name, before: r.counters(), start: time.Now()}
	r.progress.track(func() (string, int, int) {
		changes := ph.log.list()
		return name, observedOf(changes), affectedOf(changes)
	})
	return ph
}

// ProfileCPU records in the background, when Options.PprofURL is set, a
// CPU profile of the control plane over the next d into
// Options.ProfileDir as cpu-PHASE.pprof, unless one is being recorded (the
// connect storm's lasts Options.ProfileSeconds). The file is listed in the
// report's profiles once recorded.
func (ph *Phase) ProfileCPU(ctx context.Context, d time.Duration) {
	ph.f.r.profileCPUFor(ctx, d, "cpu-"+ph.name+".pprof")
}

// Track registers det at every proxy for one change of the phase and
// returns it. Latencies count from the moment Track returns until the
// caller calls MarkApplied on the change, and from then on from that
// moment: call it as soon as the change is made. A proxy that shows the
// change before MarkApplied is measured from Track.
func (ph *Phase) Track(desc string, det *Detector) *Change {
	c := &Change{Scenario: ph.name, Seq: int(ph.seq.Add(1)) - 1, Desc: desc}
	for _, p := range ph.f.r.proxies {
		p.watch(c, det)
	}
	c.markApplied()
	ph.log.add(c)
	return c
}

// MarkApplied records now as the moment of the change: the latencies of
// the proxies that show it afterwards are measured from it.
func (c *Change) MarkApplied() { c.markApplied() }

// Finish waits until every concerned proxy shows each tracked change, or
// settleTimeout passes, forgets what is still pending, and returns the
// phase's result, which is also added to the fleet's report.
func (ph *Phase) Finish(ctx context.Context, settleTimeout time.Duration) ScenarioResult {
	r := ph.f.r
	r.opts.SettleTimeout = settleTimeout
	r.settle(ctx, ph.name)
	res := ScenarioResult{Name: ph.name, Duration: time.Since(ph.start)}
	r.summarise(&res, ph.log.list())
	r.measure(&res, ph.before)
	r.report.Scenarios = append(r.report.Scenarios, res)
	return res
}

// Pending counts the (proxy, change) pairs of every phase still waiting
// for the proxy to show the change.
func (f *Fleet) Pending() int { return f.r.pending() }

// Report completes and returns the fleet's report: the connect storm and
// every finished phase, the control plane's cost over them, the load
// generator's own, and the first NACKs. Call it once, when every phase has
// finished.
func (f *Fleet) Report(ctx context.Context) *Report {
	f.r.finish(ctx)
	return f.r.report
}

// DetectEndpointWhere concerns the proxies that hold cluster; one has the
// change when one of the cluster's endpoint addresses satisfies match
// (called at EDS ACKs, from several proxies' goroutines at once).
func DetectEndpointWhere(cluster string, match func(address string) bool) *Detector {
	return &Detector{Types: []string{typeEDS}, Start: func(before configState) func(configState) bool {
		if endpointsOf(before, cluster) == nil {
			return nil
		}
		return func(after configState) bool {
			for _, a := range endpointsOf(after, cluster) {
				if a != "" && match(a) {
					return true
				}
			}
			return false
		}
	}}
}

// DetectRouteWeight concerns the proxies that hold a virtual host for host
// (its FQDN); one has the change when a weighted route of such a virtual
// host gives cluster a weight that match accepts (called at RDS ACKs, from
// several proxies' goroutines at once).
func DetectRouteWeight(host, cluster string, match func(weight uint32) bool) *Detector {
	return &Detector{Types: []string{typeRDS}, Start: func(before configState) func(configState) bool {
		if len(virtualHostsFor(before, host)) == 0 {
			return nil
		}
		return func(after configState) bool {
			for _, w := range clusterWeights(virtualHostsFor(after, host), cluster) {
				if match(w) {
					return true
				}
			}
			return false
		}
	}}
}
