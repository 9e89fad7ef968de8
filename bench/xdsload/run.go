package xdsload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// pollInterval is how often a run checks whether proxies converged.
const pollInterval = 50 * time.Millisecond

// Run connects the simulated sidecars to opts.Target, runs the connect storm
// and then each change scenario, and returns what it measured. The config
// directory is restored as generated before Run returns.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r := newRunner(opts)
	defer r.close()
	return r.run(ctx)
}

func newRunner(opts Options) *runner {
	r := &runner{opts: opts, log: opts.Logger, cache: newDecodeCache(), sink: &nackSink{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// runner holds the state of one run.
type runner struct {
	opts    Options
	log     *slog.Logger
	cache   *decodeCache
	sink    *nackSink
	proxies []*Proxy
	conns   []*grpc.ClientConn
	mesh    *meshState

	cost   *costSampler
	costAt procSample
	selfAt procSample // this process at the start
	prof   *profiler
	// metrics reads the control plane's metrics; metricsAt is the last
	// reading.
	metrics   *metricsScraper
	metricsAt metricsSample
	profWG    sync.WaitGroup
	profMu    sync.Mutex // guards report.Profiles
	// profiling is set while a CPU profile is being recorded.
	profiling atomic.Bool
	progress  *progress
	report    *Report

	stopProxies context.CancelFunc
	proxyWG     sync.WaitGroup
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	for _, name := range r.opts.Scenarios {
		if name == ScenarioConnectStorm || ctx.Err() != nil {
			continue
		}
		r.report.Scenarios = append(r.report.Scenarios, r.runChanges(ctx, name))
	}
	r.finish(ctx)
	return r.report, ctx.Err()
}

// connect prepares the run and runs the connect storm.
func (r *runner) connect(ctx context.Context) error {
	r.report = r.newReport()
	r.selfAt, _ = readProc(os.Getpid())
	r.progress = newProgress(r.opts.Progress, r.opts.Terminal)
	if err := raiseFileLimit(r.opts.Proxies + 64); err != nil {
		r.note("could not raise the open-file limit: %v", err)
	}
	r.startCost()
	if err := r.startProfiler(); err != nil {
		return err
	}
	if err := r.startMetrics(ctx); err != nil {
		return err
	}
	if err := r.createProxies(ctx); err != nil {
		return err
	}
	r.mesh = newMeshState(r.opts.Mesh, r.opts.ConfigDir)
	r.report.Scenarios = append(r.report.Scenarios, r.connectStorm(ctx))
	return nil
}

func (r *runner) newReport() *Report {
	protocol := "sotw"
	if r.opts.Delta {
		protocol = "delta"
	}
	return &Report{
		Started:  time.Now().UTC(),
		Target:   r.opts.Target,
		Protocol: protocol,
		Proxies:  r.opts.Proxies,
		Mesh:     r.opts.Mesh,
		Machine:  DescribeMachine(),
	}
}

func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.log.Warn(msg)
	r.report.Notes = append(r.report.Notes, msg)
}

// startCost finds the control plane process and starts sampling it.
func (r *runner) startCost() {
	pid := r.opts.PID
	if pid < 0 {
		return
	}
	if pid == 0 {
		_, portStr, _ := net.SplitHostPort(r.opts.Target)
		port, _ := strconv.Atoi(portStr)
		found, err := FindListener(port)
		if err != nil {
			r.note("control plane cost not measured: %v (give --pid)", err)
			return
		}
		pid = found
	}
	r.cost = startCostSampler(pid)
	at, _, err := r.cost.window()
	if err != nil {
		r.note("control plane cost not measured: %v", err)
		r.cost.close()
		r.cost = nil
		return
	}
	r.costAt = at
	r.report.ControlPlane = &ControlPlane{PID: pid, Name: processName(pid)}
}

func (r *runner) startProfiler() error {
	if r.opts.PprofURL == "" {
		return nil
	}
	pr, err := newProfiler(r.opts.PprofURL, r.opts.ProfileDir)
	if err != nil {
		return err
	}
	r.prof = pr
	return nil
}

// startMetrics takes the first reading of the control plane's metrics.
func (r *runner) startMetrics(ctx context.Context) error {
	if r.opts.MetricsURL == "" {
		return nil
	}
	m, err := newMetricsScraper(r.opts.MetricsURL, r.opts.MetricsPrefix)
	if err != nil {
		return err
	}
	if r.metricsAt, err = m.scrape(ctx); err != nil {
		return err
	}
	r.metrics = m
	return nil
}

// measureMetrics fills what the control plane's metrics did since the last
// reading.
func (r *runner) measureMetrics(res *ScenarioResult) {
	if r.metrics == nil {
		return
	}
	now, err := r.metrics.scrape(context.Background())
	if err != nil {
		r.note("%s: control plane metrics not read: %v", res.Name, err)
		return
	}
	res.Metrics = metricsBetween(r.metricsAt, now)
	r.metricsAt = now
}

// profileCPU records a CPU profile in the background, unless one is still
// being recorded (a process profiles its CPU once at a time).
func (r *runner) profileCPU(ctx context.Context, name string) {
	r.profileCPUFor(ctx, r.opts.ProfileSeconds, name)
}

// profileCPUFor records a CPU profile of the next d, as profileCPU does.
func (r *runner) profileCPUFor(ctx context.Context, d time.Duration, name string) {
	if r.prof == nil || !r.profiling.CompareAndSwap(false, true) {
		return
	}
	r.profWG.Add(1)
	go func() {
		defer r.profWG.Done()
		defer r.profiling.Store(false)
		r.keepProfile(r.prof.cpu(ctx, d, name))
	}()
}

func (r *runner) keepProfile(path string, err error) {
	if err != nil {
		r.log.Warn("profile not recorded", "err", err)
		return
	}
	r.profMu.Lock()
	r.report.Profiles = append(r.report.Profiles, path)
	r.profMu.Unlock()
}

// proxyCredentials are how proxy id connects: in plaintext, over TLS with
// a client certificate of its identity (ctls), or over TLS with its
// service-account token (toks).
func (r *runner) proxyCredentials(ctx context.Context, id *Identity, ctls *clientTLS, toks *tokens) (credentials.TransportCredentials, []grpc.DialOption, error) {
	switch {
	case toks != nil:
		tok, err := toks.of(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		return ctls.serverOnly(), []grpc.DialOption{grpc.WithPerRPCCredentials(tok)}, nil
	case ctls != nil:
		creds, err := ctls.credentials(id)
		return creds, nil, err
	}
	return insecure.NewCredentials(), nil, nil
}

// envoyWindowSize is Envoy's default initial HTTP/2 stream and connection
// window (http2_protocol_options), which its gRPC clients use.
const envoyWindowSize = 256 << 20

// createProxies makes one gRPC client connection per simulated sidecar, as
// each Envoy has its own.
func (r *runner) createProxies(ctx context.Context) error {
	var ctls *clientTLS
	if r.opts.TLSCADir != "" {
		var err error
		if ctls, err = newClientTLS(r.opts.TLSCADir, r.opts.TrustDomain, r.opts.TLSServerName); err != nil {
			return err
		}
		defer func() { r.report.TLS = ctls.report() }()
	}
	var toks *tokens
	if r.opts.Tokens != nil {
		if ctls == nil {
			return errors.New("tokens need TLS (TLSCADir)")
		}
		toks = &tokens{source: r.opts.Tokens, byID: map[string]bearerToken{}}
		ctls.tokens = toks
	}
	for k := 0; k < r.opts.Proxies; k++ {
		id := r.identity(k)
		creds, callCreds, err := r.proxyCredentials(ctx, id, ctls, toks)
		if err != nil {
			return err
		}
		conn, err := grpc.NewClient("passthrough:///"+r.opts.Target, append(callCreds,
			grpc.WithTransportCredentials(creds),
			// An idle stream holds no write buffer: thousands of them do not
			// keep 32 KiB each.
			grpc.WithSharedWriteBuffer(true),
			// Envoy re-opens a failed stream itself; gRPC's transparent
			// retry would keep a replay buffer of every request sent.
			grpc.WithDisableRetry(),
			grpc.WithDisableServiceConfig(),
			// Envoy's HTTP/2 windows (256 MiB for a stream and for the
			// connection): the server never waits for window updates, and
			// with a fixed window gRPC does not send the bandwidth-probing
			// pings that Envoy never sends.
			grpc.WithInitialWindowSize(envoyWindowSize),
			grpc.WithInitialConnWindowSize(envoyWindowSize),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))...)
		if err != nil {
			return fmt.Errorf("client for %s: %w", r.opts.Target, err)
		}
		r.conns = append(r.conns, conn)
		p, err := newProxy(id, conn, r.cache, r.sink)
		if err != nil {
			return err
		}
		r.proxies = append(r.proxies, p)
	}
	return nil
}

// identity is proxy k's: Options.Identities', else IdentityFor.
func (r *runner) identity(k int) *Identity {
	if r.opts.Identities != nil {
		return r.opts.Identities(k)
	}
	return IdentityFor(r.opts.Mesh, k)
}

// counters sums the proxies' counters.
type counters struct{ bytes, responses, nacks, disconnects int64 }

func (r *runner) counters() counters {
	var c counters
	for _, p := range r.proxies {
		c.bytes += p.bytes.Load()
		c.responses += p.responses.Load()
		c.nacks += p.nacks.Load()
		c.disconnects += p.disconnects.Load()
	}
	return c
}

// measure fills the traffic and cost of a scenario since before.
func (r *runner) measure(res *ScenarioResult, before counters) {
	after := r.counters()
	res.Bytes = after.bytes - before.bytes
	res.Responses = after.responses - before.responses
	res.NACKs = after.nacks - before.nacks
	res.Disconnects = after.disconnects - before.disconnects
	r.measureMetrics(res)
	if r.cost == nil {
		return
	}
	now, peak, err := r.cost.window()
	if err != nil {
		return
	}
	cpu := now.cpuSeconds - r.costAt.cpuSeconds
	res.CPUSeconds, res.PeakRSSBytes = &cpu, &peak
	r.costAt = now
}

// connectStorm starts every proxy and waits until each has its full
// configuration or the config timeout passes.
func (r *runner) connectStorm(ctx context.Context) ScenarioResult {
	res := ScenarioResult{Name: ScenarioConnectStorm, Affected: len(r.proxies)}
	before := r.counters()
	r.progress.track(func() (string, int, int) { return ScenarioConnectStorm, r.configured(), len(r.proxies) })
	r.profileCPU(ctx, "cpu-connect-storm.pprof")
	start := time.Now()
	r.startProxies(ctx)
	deadline := time.After(r.opts.ConfigTimeout)
	for r.configured() < len(r.proxies) && sleepOrDone(ctx, deadline) {
	}
	res.Duration = time.Since(start)
	var times []time.Duration
	for _, p := range r.proxies {
		if d, ok := p.timeToConfig(); ok {
			times = append(times, d)
		}
	}
	res.Observed, res.Missed = len(times), len(r.proxies)-len(times)
	res.Latency = percentiles(times)
	r.measure(&res, before)
	if r.prof != nil {
		r.keepProfile(r.prof.heap(ctx, "heap-after-connect-storm.pprof"))
	}
	return res
}

// sleepOrDone waits one poll interval; false when ctx ended or the
// deadline passed.
func sleepOrDone(ctx context.Context, deadline <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-deadline:
		return false
	case <-time.After(pollInterval):
		return true
	}
}

// startProxies runs every proxy's stream, at ConnectRate per second when
// it is set.
func (r *runner) startProxies(ctx context.Context) {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopProxies = cancel
	var interval time.Duration
	if r.opts.ConnectRate > 0 {
		interval = time.Duration(float64(time.Second) / r.opts.ConnectRate)
	}
	for i, p := range r.proxies {
		if interval > 0 && i > 0 {
			time.Sleep(interval)
		}
		r.proxyWG.Add(1)
		go func() {
			defer r.proxyWG.Done()
			p.run(pctx, r.opts.Delta)
		}()
	}
}

// configured counts the proxies that have had their full configuration.
func (r *runner) configured() int {
	n := 0
	for _, p := range r.proxies {
		if _, ok := p.timeToConfig(); ok {
			n++
		}
	}
	return n
}

// finish restores the mesh, stops the proxies and completes the report.
func (r *runner) finish(ctx context.Context) {
	if r.opts.ConfigDir != "" && r.opts.hasChanges() {
		if err := r.mesh.restore(); err != nil {
			r.note("config directory not restored: %v", err)
		}
	}
	if r.prof != nil {
		r.keepProfile(r.prof.heap(ctx, "heap-end.pprof"))
	}
	r.profWG.Wait()
	r.report.NACKs = r.sink.list()
	if r.opts.PerProxy {
		r.report.PerProxy = r.perProxy()
	}
	if r.cost != nil {
		r.finishCost()
	}
	if self, err := readProc(os.Getpid()); err == nil {
		r.report.LoadGenerator = &ControlPlane{PID: os.Getpid(), Name: processName(os.Getpid()),
			CPUSeconds: self.cpuSeconds - r.selfAt.cpuSeconds, PeakRSSBytes: self.hwmBytes}
	}
}

func (r *runner) finishCost() {
	now, _, err := r.cost.window()
	if err != nil {
		r.note("control plane cost: %v", err)
		return
	}
	cp := r.report.ControlPlane
	cp.PeakRSSBytes = now.hwmBytes
	var cpu float64
	for _, s := range r.report.Scenarios {
		if s.CPUSeconds != nil {
			cpu += *s.CPUSeconds
		}
	}
	cp.CPUSeconds = cpu
}

func (r *runner) perProxy() []ProxyResult {
	out := make([]ProxyResult, len(r.proxies))
	for i, p := range r.proxies {
		res := ProxyResult{
			Node:         p.ID.NodeID(),
			ConfiguredMs: -1,
			Bytes:        p.bytes.Load(),
			Responses:    p.responses.Load(),
			NACKs:        p.nacks.Load(),
			Disconnects:  p.disconnects.Load(),
		}
		if d, ok := p.timeToConfig(); ok {
			res.ConfiguredMs = ms(d)
		}
		p.mu.Lock()
		if p.lastErr != nil {
			res.LastError = p.lastErr.Error()
		}
		p.mu.Unlock()
		out[i] = res
	}
	return out
}

// close stops everything the run started.
func (r *runner) close() {
	if r.stopProxies != nil {
		r.stopProxies()
	}
	r.proxyWG.Wait()
	for _, c := range r.conns {
		c.Close()
	}
	if r.cost != nil {
		r.cost.close()
	}
	if r.progress != nil {
		r.progress.close()
	}
}
