package bench_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench"
	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/server"
)

// pushProxies is the number of connected proxies the push benchmarks use.
const pushProxies = 1000

// changeTimeout bounds the wait for one change to reach every proxy.
const changeTimeout = time.Minute

// pushFixture is an in-process Isthmus xDS server with a fleet of simulated
// sidecars connected to it over real gRPC streams on loopback.
type pushFixture struct {
	srv     *server.Server
	fleet   *xdsload.Fleet
	mesh    *bench.Mesh
	version uint64
}

func startPushFixture(b *testing.B, spec meshgen.Spec, proxies int, delta bool) *pushFixture {
	b.Helper()
	mesh, err := bench.DecodeMesh(spec)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	issuer := certs.NewIssuer(ca, certs.IssuerOptions{Logger: slog.New(slog.DiscardHandler)})
	f := &pushFixture{mesh: mesh, srv: server.New(server.Options{
		Debounce: time.Millisecond, DebounceMax: 5 * time.Millisecond,
		Logger:  slog.New(slog.DiscardHandler),
		Secrets: server.IssuerSecrets(issuer, certs.DefaultTrustDomain),
		// The simulated sidecars connect in plaintext and name their
		// service account, as with isthmus serve --insecure-identities:
		// without their certificates they would never be fully configured.
		InsecureIdentities: true,
	})}
	b.Cleanup(f.srv.Stop)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go f.srv.Serve(lis)
	f.update(b)
	opts := xdsload.DefaultOptions()
	opts.Target, opts.Delta, opts.Proxies, opts.Mesh = lis.Addr().String(), delta, proxies, spec
	opts.ConfigTimeout, opts.PID = 5*time.Minute, -1
	fleet, _, err := xdsload.Connect(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fleet.Close)
	f.fleet = fleet
	return f
}

// update hands the server the mesh as it is now.
func (f *pushFixture) update(b *testing.B) *model.Snapshot {
	b.Helper()
	f.version++
	snap, err := f.mesh.Snapshot(f.version)
	if err != nil {
		b.Fatal(err)
	}
	f.srv.Update(snap)
	return snap
}

// measure applies one change through the server and waits until every
// proxy concerned has ACKed it.
func (f *pushFixture) measure(b *testing.B, det *xdsload.Detector, snap *model.Snapshot) xdsload.ScenarioResult {
	b.Helper()
	res, err := f.fleet.Change(context.Background(), "push", det, func() error { f.srv.Update(snap); return nil }, changeTimeout)
	if err != nil {
		b.Fatal(err)
	}
	if res.Affected == 0 || res.Observed != res.Affected || res.NACKs > 0 {
		b.Fatalf("%d of %d proxies saw the change, %d NACKs: %v", res.Observed, res.Affected, res.NACKs, f.fleet.NACKs())
	}
	return res
}

// reportChanges adds per-change figures to the benchmark output: the mean
// over changes of each change's p99 and of the proxies, responses and bytes
// it caused, and the worst latency of any proxy.
func reportChanges(b *testing.B, results []xdsload.ScenarioResult) {
	var p99, maxMs, bytes, responses, proxies float64
	for _, r := range results {
		p99 += r.Latency.P99
		maxMs = max(maxMs, r.Latency.Max)
		bytes += float64(r.Bytes)
		responses += float64(r.Responses)
		proxies += float64(r.Affected)
	}
	n := float64(len(results))
	b.ReportMetric(p99/n, "p99-ms")
	b.ReportMetric(maxMs, "max-ms")
	b.ReportMetric(proxies/n, "proxies/op")
	b.ReportMetric(responses/n, "responses/op")
	b.ReportMetric(bytes/n, "bytes-sent/op")
}

func protocols() []bool { return []bool{false, true} }

func protocolName(delta bool) string { return map[bool]string{false: "sotw", true: "delta"}[delta] }

// BenchmarkFullPush1000Proxies changes every VirtualService of the large
// (Sidecar-scoped) mesh at once and measures the time until all 1,000
// connected proxies have ACKed their new routes. The proxies run in the
// same process; their decoding is shared and cached, but still part of
// the figure.
func BenchmarkFullPush1000Proxies(b *testing.B) {
	for _, delta := range protocols() {
		b.Run(protocolName(delta), func(b *testing.B) {
			spec := largeMesh(true)
			f := startPushFixture(b, spec, pushProxies, delta)
			var results []xdsload.ScenarioResult
			for i := 0; b.Loop(); i++ {
				snap := f.allWeightsChanged(b, 21+i%59)
				results = append(results, f.measure(b, xdsload.DetectAnyChange(), snap))
			}
			reportChanges(b, results)
		})
	}
}

// allWeightsChanged gives every routed service v1 weight v1 and returns
// the snapshot, unpushed.
func (f *pushFixture) allWeightsChanged(b *testing.B, v1 int) *model.Snapshot {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	for i := 0; i < f.mesh.Spec.Services; i++ {
		svc := f.mesh.Spec.Service(i)
		if svc.Weights == nil {
			continue
		}
		svc.SetWeights(v1, 100-v1)
		if err := f.mesh.SetService(svc); err != nil {
			b.Fatal(err)
		}
	}
	f.version++
	snap, err := f.mesh.Snapshot(f.version)
	if err != nil {
		b.Fatal(err)
	}
	return snap
}

// BenchmarkEndpointChange replaces one endpoint of one service (round
// robin) in the large mesh with 1,000 connected proxies and measures the
// time until every proxy holding that service's cluster has ACKed the new
// address. responses/op shows whether only EDS was resent.
func BenchmarkEndpointChange(b *testing.B) {
	for _, delta := range protocols() {
		b.Run(protocolName(delta), func(b *testing.B) {
			spec := largeMesh(true)
			f := startPushFixture(b, spec, pushProxies, delta)
			var results []xdsload.ScenarioResult
			for i := 0; b.Loop(); i++ {
				det, snap := f.endpointMoved(b, i%spec.Services, 1+i/spec.Services)
				results = append(results, f.measure(b, det, snap))
			}
			reportChanges(b, results)
		})
	}
}

// endpointMoved moves the last endpoint of service i to generation gen and
// returns the detector of the new address and the snapshot, unpushed.
func (f *pushFixture) endpointMoved(b *testing.B, i, gen int) (*xdsload.Detector, *model.Snapshot) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	svc := f.mesh.Spec.Service(i)
	svc.SetEndpointGeneration(gen)
	if err := f.mesh.SetService(svc); err != nil {
		b.Fatal(err)
	}
	f.version++
	snap, err := f.mesh.Snapshot(f.version)
	if err != nil {
		b.Fatal(err)
	}
	addr := svc.Endpoints[len(svc.Endpoints)-1].Address
	return xdsload.DetectEndpoint(xdsload.OutboundCluster(svc.Port, "", svc.Host), addr), snap
}
