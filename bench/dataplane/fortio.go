package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	fortiolog "fortio.org/log"
)

// fortioModule is the module whose version the report names.
const fortioModule = "fortio.org/fortio"

// requestTimeout bounds one request; a request taking longer is an error.
const requestTimeout = 5 * time.Second

// fortio drives Fortio's HTTP runner in process: one goroutine and one
// keep-alive connection per connection asked for, the rate shared among
// them and their requests staggered uniformly (without that, every
// connection fires at the same instant and the figures measure the queue
// of that burst rather than the proxies). Latencies are recorded per request (not from Fortio's bucketed
// histogram) so percentiles are exact.
type fortio struct{}

func newFortio() *fortio {
	fortiolog.SetLogLevelQuiet(fortiolog.Error)
	return &fortio{}
}

// Name is "fortio VERSION (Go library)", the version as linked in (test
// binaries do not record it).
func (*fortio) Name() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == fortioModule {
				return "fortio " + dep.Version + " (Go library)"
			}
		}
	}
	return "fortio (Go library)"
}

// Run sends l to t with Fortio.
func (*fortio) Run(ctx context.Context, t target, l load) (run, error) {
	rec := &latencyRecorder{}
	opts, err := fortioOptions(t, l, rec)
	if err != nil {
		return run{}, err
	}
	stop := abortOnDone(ctx, opts.Stop)
	defer stop()
	res, err := fhttp.RunHTTPTest(opts)
	if err != nil {
		return run{}, fmt.Errorf("fortio run against %s: %w", t.URL, err)
	}
	if err := ctx.Err(); err != nil {
		return run{}, fmt.Errorf("fortio run against %s: %w", t.URL, err)
	}
	m := Measurement{
		Requests: res.DurationHistogram.Count,
		Errors:   non2xx(res.RetCodes),
		QPS:      res.ActualQPS,
		Latency:  percentilesOf(rec.samples),
	}
	return run{Measurement: m, samples: rec.samples}, nil
}

func fortioOptions(t target, l load, rec *latencyRecorder) (*fhttp.HTTPRunnerOptions, error) {
	opts := &fhttp.HTTPRunnerOptions{}
	opts.RunnerOptions = periodic.RunnerOptions{
		QPS:          float64(l.QPS),
		Duration:     l.Duration,
		NumThreads:   l.Connections,
		Uniform:      true,
		Out:          io.Discard,
		AccessLogger: rec,
		Stop:         periodic.NewAborter(),
	}
	opts.HTTPOptions.HTTPReqTimeOut = requestTimeout
	opts.HTTPOptions.Init(t.URL)
	if l.PayloadBytes > 0 {
		opts.HTTPOptions.Payload = bytes.Repeat([]byte("o"), l.PayloadBytes)
	}
	if t.Host != "" {
		if err := opts.HTTPOptions.AddAndValidateExtraHeader("Host: " + t.Host); err != nil {
			return nil, fmt.Errorf("fortio options: %w", err)
		}
	}
	return opts, nil
}

// abortOnDone stops the Fortio run when ctx ends; the returned function
// releases the watcher.
func abortOnDone(ctx context.Context, a *periodic.Aborter) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			a.Abort(false)
		case <-done:
		}
	}()
	return func() { close(done) }
}

// non2xx counts the requests answered with a status outside 2xx, or not
// answered (Fortio's code -1).
func non2xx(codes map[int]int64) int64 {
	var n int64
	for code, count := range codes {
		if code < http.StatusOK || code >= http.StatusMultipleChoices {
			n += count
		}
	}
	return n
}

// latencyRecorder is a Fortio access logger that keeps every request's
// latency.
type latencyRecorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// Start is called before each request; nothing to do.
func (*latencyRecorder) Start(ctx context.Context, _ periodic.ThreadID, _ int64, _ time.Time) context.Context {
	return ctx
}

// Report records the latency (in seconds) of one request.
func (r *latencyRecorder) Report(_ context.Context, _ periodic.ThreadID, _ int64, _ time.Time, latency float64, _ bool, _ string) {
	d := time.Duration(latency * float64(time.Second))
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// Info names the logger in Fortio's own output.
func (*latencyRecorder) Info() string { return "isthmus latency recorder" }
