package xdsload

import (
	"context"
	"fmt"
	"time"
)

// Fleet is a set of connected simulated sidecars, for benchmarks that drive
// a control plane in the same process: connect once, then measure changes
// applied by any means (a file, a direct call to the server).
type Fleet struct {
	r   *runner
	seq int
}

// Connect starts opts.Proxies sidecars against opts.Target and waits until
// each has its full configuration or ConfigTimeout passes. The result is
// the connect storm's. Scenarios and ConfigDir are ignored.
func Connect(ctx context.Context, opts Options) (*Fleet, ScenarioResult, error) {
	opts.Scenarios, opts.ConfigDir = nil, ""
	if err := opts.validate(); err != nil {
		return nil, ScenarioResult{}, err
	}
	r := newRunner(opts)
	if err := r.connect(ctx); err != nil {
		r.close()
		return nil, ScenarioResult{}, err
	}
	storm := r.report.Scenarios[0]
	if storm.Missed > 0 {
		err := fmt.Errorf("%d of %d proxies without full configuration after %s (NACKs: %v)",
			storm.Missed, storm.Affected, opts.ConfigTimeout, r.sink.list())
		r.close()
		return nil, storm, err
	}
	return &Fleet{r: r}, storm, nil
}

// Change registers det at every proxy, calls apply, and waits until every
// concerned proxy shows the change or timeout passes.
func (f *Fleet) Change(ctx context.Context, desc string, det *Detector, apply func() error, timeout time.Duration) (ScenarioResult, error) {
	res := ScenarioResult{Name: desc}
	before := f.r.counters()
	start := time.Now()
	f.seq++
	maker := func(int) (string, *Detector, func() error, error) { return desc, det, apply, nil }
	c, err := f.r.makeChange(desc, f.seq, maker)
	if err != nil {
		return res, err
	}
	f.r.opts.SettleTimeout = timeout
	f.r.settle(ctx, desc)
	res.Duration = time.Since(start)
	f.r.summarise(&res, []*Change{c})
	f.r.measure(&res, before)
	return res, nil
}

// NACKs returns the first NACKs of the fleet's proxies.
func (f *Fleet) NACKs() []NACK { return f.r.sink.list() }

// Close disconnects every proxy.
func (f *Fleet) Close() { f.r.close() }

// DetectAnyChange concerns every proxy; a proxy has the change when any of
// its resources (secrets included) differs from what it held when the
// change was made, and it holds every secret its configuration references.
func DetectAnyChange() *Detector {
	return &Detector{Start: func(before configState) func(configState) bool {
		return func(after configState) bool { return differsWarm(before, after) }
	}}
}

// DetectEndpoint concerns the proxies that hold cluster; one has the change
// when the cluster's endpoints include address.
func DetectEndpoint(cluster, address string) *Detector {
	return DetectEndpointWhere(cluster, func(a string) bool { return a == address })
}

// OutboundCluster is Istio's name of the cluster of one subset ("" for
// all endpoints) of a service port.
func OutboundCluster(port uint32, subset, host string) string {
	return outboundCluster(port, subset, host)
}
