package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	runtimemetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// BenchmarkPush measures one push to 1,000 connected proxies of a mesh of
// 100 services, when translation shares resource objects between proxies
// (as the real translator does for proxies with the same scope) and when it
// builds fresh ones per proxy.
func BenchmarkPush(b *testing.B) {
	snap := world{version: 1, endpoints: []string{"10.1.0.1", "10.1.0.2"}}.snapshot()
	for _, shared := range []bool{true, false} {
		b.Run(fmt.Sprintf("shared=%t", shared), func(b *testing.B) {
			translateFn := meshTranslate
			if shared {
				translateFn = sharedTranslate(snap)
			}
			s := New(Options{Translate: translateFn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			defer s.Stop()
			for i := range 1000 {
				node := sidecarNode(b, fmt.Sprintf("app-%d", i))
				p, err := model.ParseNode(node)
				if err != nil {
					b.Fatal(err)
				}
				s.attach(p, nil)
			}
			b.ResetTimer()
			for i := range b.N {
				next := *snap
				next.Version = uint64(i + 1)
				s.push(&next)
			}
		})
	}
}

// sharedTranslate translates snap once and gives every proxy the result.
func sharedTranslate(snap *model.Snapshot) TranslateFunc {
	res, err := meshTranslate(translate.NewIndex(snap), nil)
	if err != nil {
		panic(err)
	}
	return func(*translate.Index, *model.Proxy) (*translate.Resources, error) { return res, nil }
}

// meshProxies is how many sidecars the mesh benchmarks connect.
const meshProxies = 5000

// BenchmarkMeshConnect measures the server side of a connect storm: with
// the target mesh pushed, 5,000 sidecars spread over its 100 namespaces
// attach and subscribe like Envoy (CDS and LDS wildcard, then EDS and RDS
// by name), each response built and marshalled as gRPC would, until every
// proxy holds its full configuration. Connections are simulated: the
// watches are opened on the server's cache directly.
func BenchmarkMeshConnect(b *testing.B) {
	for _, delta := range []bool{false, true} {
		b.Run(protocolName(delta), func(b *testing.B) {
			snap := targetMesh.snapshot(1, 80, 0)
			meter := newCostMeter()
			for b.Loop() {
				b.StopTimer()
				s := New(Options{Logger: slog.New(slog.DiscardHandler), Secrets: testSecrets(b), InsecureIdentities: true})
				s.push(snap)
				runtime.GC()
				b.StartTimer()
				meter.start()
				clients := connectFleet(b, s, targetMesh, meshProxies, delta)
				meter.stop()
				b.StopTimer()
				if n := clients.withAll(); n != meshProxies {
					b.Fatalf("%d of %d proxies hold their full configuration", n, meshProxies)
				}
				s.Stop()
				b.StartTimer()
			}
			meter.report(b)
		})
	}
}

// BenchmarkMeshPush measures pushes to 5,000 connected sidecars of the
// target mesh: a mesh-wide change (every VirtualService's weights) that
// changes every proxy's routes, and an endpoint change (one more service's
// endpoint moved) that concerns the proxies of one namespace. Each op is the push plus building and
// marshalling every response it causes and re-arming the watches, as the
// proxies' ACKs would.
func BenchmarkMeshPush(b *testing.B) {
	for _, delta := range []bool{false, true} {
		for _, change := range []string{"mesh-wide", "endpoint"} {
			b.Run(protocolName(delta)+"/"+change, func(b *testing.B) {
				benchmarkPush(b, targetMesh, meshProxies, delta, change)
			})
		}
	}
}

// BenchmarkUnscopedEndpointPush measures an endpoint change in the target
// mesh without Sidecar resources, to 1,000 sidecars in its 100 namespaces:
// one load assignment that every view holds changes, and every proxy is
// sent it.
func BenchmarkUnscopedEndpointPush(b *testing.B) {
	for _, delta := range []bool{false, true} {
		b.Run(protocolName(delta), func(b *testing.B) {
			benchmarkPush(b, unscopedMesh, 1000, delta, "endpoint")
		})
	}
}

// benchmarkPush measures pushes of change ("mesh-wide" or "endpoint") to
// n connected proxies of mesh m.
func benchmarkPush(b *testing.B, m benchMesh, n int, delta bool, change string) {
	s := New(Options{Logger: slog.New(slog.DiscardHandler), Secrets: testSecrets(b), InsecureIdentities: true})
	defer s.Stop()
	s.push(m.snapshot(1, 80, 0))
	clients := connectFleet(b, s, m, n, delta)
	runtime.GC()
	meter := newCostMeter()
	var responses int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		v := uint64(i + 2)
		snap := m.snapshot(v, 80, (i+1)%m.services)
		if change == "mesh-wide" {
			snap = m.snapshot(v, 50+i%2*30, 0)
		}
		b.StartTimer()
		meter.start()
		s.push(snap)
		responses += clients.drainAll()
		meter.stop()
	}
	meter.report(b)
	b.ReportMetric(float64(responses)/float64(b.N), "responses/op")
}

func protocolName(delta bool) string {
	if delta {
		return "delta"
	}
	return "sotw"
}

// fleet is a set of simulated proxies.
type fleet []*benchClient

// connectFleet attaches n proxies of mesh m to s and subscribes them until
// each has its full configuration, on GOMAXPROCS workers.
func connectFleet(b *testing.B, s *Server, m benchMesh, n int, delta bool) fleet {
	clients := make(fleet, n)
	parallel(n, func(k int) {
		c := newBenchClient(s, m.proxy(k), delta) // attached by its first request
		clients[k] = c
		c.subscribe(resource.ClusterType, nil)
		c.subscribe(resource.ListenerType, nil)
		c.drain()
	})
	return clients
}

// drainAll lets every proxy handle what it was sent; it returns the number
// of responses.
func (f fleet) drainAll() int64 {
	var total atomic.Int64
	parallel(len(f), func(k int) { total.Add(f[k].drain()) })
	return total.Load()
}

// withAll counts the proxies holding all four types.
func (f fleet) withAll() int {
	n := 0
	for _, c := range f {
		if len(c.versions) == 4 {
			n++
		}
	}
	return n
}

// parallel runs fn(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, fn func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				fn(k)
			}
		})
	}
	wg.Wait()
}

// benchClient is one simulated Envoy, talking to a stream of the server
// without a connection: it hands its requests to the stream and reads the
// responses the stream sent.
type benchClient struct {
	s        *Server
	node     *corev3.Node
	delta    *deltaStream // nil for state of the world
	deltaIO  *memIO[*discoveryv3.DeltaDiscoveryResponse]
	sotw     *sotwStream // nil for delta
	sotwIO   *memIO[*discoveryv3.DiscoveryResponse]
	names    map[string][]string
	versions map[string]string
	nonces   map[string]string // of the last response of each type
}

func newBenchClient(s *Server, node *corev3.Node, delta bool) *benchClient {
	c := &benchClient{s: s, node: node, names: map[string][]string{}, versions: map[string]string{}, nonces: map[string]string{}}
	var err error
	if delta {
		c.deltaIO = &memIO[*discoveryv3.DeltaDiscoveryResponse]{ctx: s.ctx}
		c.delta, err = s.openDelta(c.deltaIO, "")
	} else {
		c.sotwIO = &memIO[*discoveryv3.DiscoveryResponse]{ctx: s.ctx}
		c.sotw, err = s.openSotw(c.sotwIO, "")
	}
	if err != nil {
		panic(err)
	}
	return c
}

// memIO is a stream without a connection: the bench client hands requests
// to the stream itself, and reads what it sent here.
type memIO[Resp any] struct {
	ctx  context.Context
	sent []Resp
}

func (m *memIO[Resp]) Context() context.Context { return m.ctx }

func (m *memIO[Resp]) Send(r Resp) error {
	m.sent = append(m.sent, r)
	return nil
}

// RecvMsg is never called: the bench client hands requests over itself.
func (m *memIO[Resp]) RecvMsg(any) error {
	return errors.New("the bench client hands requests over itself")
}

// decoded is req as the stream reads it off the wire.
func (d *sotwStream) decoded(req *discoveryv3.DiscoveryRequest) *sotwRequest {
	r := &sotwRequest{known: d.knownSet, subscribed: d.subscribed}
	readAsFromTheWire(req, r)
	return r
}

// decoded is req as the stream reads it off the wire.
func (d *deltaStream) decoded(req *discoveryv3.DeltaDiscoveryRequest) *deltaRequest {
	r := &deltaRequest{known: d.s.nameSets.knownEncoded}
	readAsFromTheWire(req, r)
	return r
}

func readAsFromTheWire(req proto.Message, into any) {
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	if err := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, into); err != nil {
		panic(err)
	}
}

// takeSent returns the responses sent since the last call.
func (m *memIO[Resp]) takeSent() []Resp {
	out := m.sent
	m.sent = nil
	return out
}

// subscribe sends the request that acknowledges the last response of
// typeURL and subscribes to names, nil being wildcard.
func (c *benchClient) subscribe(typeURL string, names []string) {
	old := c.names[typeURL]
	c.names[typeURL] = names
	var err error
	if c.delta != nil {
		req := &discoveryv3.DeltaDiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResponseNonce: c.nonces[typeURL]}
		req.ResourceNamesSubscribe, req.ResourceNamesUnsubscribe = diffNames(old, names)
		err = c.delta.handle(c.delta.decoded(req))
	} else {
		err = c.sotw.handle(c.sotw.decoded(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names,
			VersionInfo: c.versions[typeURL], ResponseNonce: c.nonces[typeURL]}))
	}
	if err != nil {
		panic(err)
	}
}

// diffNames is what names adds to old and what it drops from it.
func diffNames(old, names []string) (added, removed []string) {
	had, has := toSet(old), toSet(names)
	for _, n := range names {
		if !had[n] {
			added = append(added, n)
		}
	}
	for _, n := range old {
		if !has[n] {
			removed = append(removed, n)
		}
	}
	return added, removed
}

func toSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

// drain handles every pending response: the stream answers what a change
// (set, which wakes it) or a request owes; each response is marshalled as
// gRPC would, recorded and acknowledged, subscribing EDS and RDS to the
// names the proxy is served. It returns the number of responses.
func (c *benchClient) drain() int64 {
	var n int64
	for {
		sent := c.answered()
		if len(sent) == 0 {
			return n
		}
		for _, out := range sent {
			mustMarshal(out.msg)
			c.versions[out.typeURL], c.nonces[out.typeURL] = out.version, out.nonce
			c.subscribe(out.typeURL, c.names[out.typeURL])
			c.followReferences(out.typeURL)
			n++
		}
	}
}

// receivedResponse is what the bench client reads of a response.
type receivedResponse struct {
	msg                     proto.Message
	typeURL, version, nonce string
}

// answered wakes the stream when set signalled it, and returns what it
// sent since the last call.
func (c *benchClient) answered() []receivedResponse {
	var out []receivedResponse
	if c.delta != nil {
		answerIfWoken(c.delta)
		for _, r := range c.deltaIO.takeSent() {
			out = append(out, receivedResponse{r, r.TypeUrl, r.SystemVersionInfo, r.Nonce})
		}
		return out
	}
	answerIfWoken(c.sotw)
	for _, r := range c.sotwIO.takeSent() {
		out = append(out, receivedResponse{r, r.TypeUrl, r.VersionInfo, r.Nonce})
	}
	return out
}

// answerIfWoken answers what st owes when the cache woke it, as runStream
// does.
func answerIfWoken[Req any](st protocolStream[Req]) {
	select {
	case <-st.base().wake:
		if err := answerAll(st); err != nil {
			panic(err)
		}
	default:
	}
}

// followReferences subscribes EDS after CDS and RDS after LDS, to the
// names the server serves this proxy (what Envoy would read from them).
func (c *benchClient) followReferences(typeURL string) {
	ps := c.s.proxyByID(c.node.Id)
	served := ps.servedResources()
	switch typeURL {
	case resource.ClusterType:
		var names []string
		for _, e := range served.resources.Endpoints {
			names = append(names, e.ClusterName)
		}
		if !equalNames(names, c.names[resource.EndpointType]) {
			c.subscribe(resource.EndpointType, names)
		}
	case resource.ListenerType:
		var names []string
		for _, r := range served.resources.Routes {
			names = append(names, r.Name)
		}
		if !equalNames(names, c.names[resource.RouteType]) {
			c.subscribe(resource.RouteType, names)
		}
	}
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustMarshal(m proto.Message) {
	if _, err := proto.Marshal(m); err != nil {
		panic(err)
	}
}

// costMeter adds up the process CPU time and samples the peak live heap
// over the measured sections of a benchmark.
type costMeter struct {
	cpu      time.Duration
	peak     atomic.Uint64
	sections int
	began    time.Duration
	done     chan struct{}
	sampling sync.WaitGroup
}

func newCostMeter() *costMeter { return &costMeter{} }

func (m *costMeter) start() {
	m.began = processCPU()
	m.done = make(chan struct{})
	m.sampling.Go(func() {
		sample := []runtimemetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtimemetrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > m.peak.Load() {
				m.peak.Store(v)
			}
			select {
			case <-m.done:
				return
			case <-tick.C:
			}
		}
	})
}

func (m *costMeter) stop() {
	m.cpu += processCPU() - m.began
	m.sections++
	close(m.done)
	m.sampling.Wait()
}

// report adds cpu-s/op (process CPU seconds per measured section) and
// peak-heap-MB (the largest live heap seen in any section).
func (m *costMeter) report(b *testing.B) {
	if m.sections == 0 {
		return
	}
	b.ReportMetric(m.cpu.Seconds()/float64(m.sections), "cpu-s/op")
	b.ReportMetric(float64(m.peak.Load())/1e6, "peak-heap-MB")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
