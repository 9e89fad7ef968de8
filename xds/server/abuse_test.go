package server

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// The abuse scenario: clients that mean harm, or are broken, run against a
// server that translates with the real translator, while a canary proxy
// follows configuration changes. The hostile clients are those of the
// hardening issue: nodes far larger than any istio-proxy's (a 1 MiB node
// id, a 512 KiB label) opening streams again as fast as the server ends
// them, and a proxy rejecting its endpoints in a tight loop with a long
// message. What a user sees must not change: the canary gets each change
// within a second, memory and logs stay small, every rejection is counted.
const (
	// canaryChanges is how many endpoint changes the canary follows
	// during the attack, canaryPause apart.
	canaryChanges = 15
	canaryPause   = 150 * time.Millisecond
	// canaryDeadline is how soon after a change the canary must have it.
	canaryDeadline = time.Second
	// maxAbuseLogBytes bounds what the server may log during the attack:
	// a few lines per hostile client (a line of 1 MiB node id, as before
	// the limits, is over it alone).
	maxAbuseLogBytes = 64 << 10
	// maxAbuseHeapGrowth bounds the live heap the attack may leave while
	// its streams are still open (before the limits, the streams of
	// oversized nodes held open kept 24 MiB).
	maxAbuseHeapGrowth = 8 << 20
	// maxHeldStreams is how many accepted streams each oversized client
	// keeps open, as a client that means harm would.
	maxHeldStreams = 16
)

// abuseScale is how many hostile clients of each kind the abuse scenario
// runs: 1 in the test suite, more for a heavier run (bench/README.md).
// The bounds on log and heap grow with it, by a line and a MiB a client.
var abuseScale = flag.Int("abuse-scale", 1, "hostile clients of each kind in TestHostileClientsLeaveTheCanaryServed")

func TestHostileClientsLeaveTheCanaryServed(t *testing.T) {
	logs := &countingWriter{}
	h := startServerWith(t, Options{Secrets: testSecrets(t), InsecureIdentities: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	canary := newSotwClient(t, h.dial(), sidecarNode(t, "canary"))
	canary.sync()
	h.waitAcked(sidecarNode(t, "canary").Id)
	var flooders []*sotwClient
	for i := range *abuseScale {
		flooder := newSotwClient(t, h.dial(), sidecarNode(t, fmt.Sprintf("flooder-%d", i)))
		flooder.sync()
		flooders = append(flooders, flooder)
	}
	baseHeap, baseLog := liveHeap(), logs.written()

	attack := startAttack(t, h, flooders)
	worst := followChanges(t, h, canary)
	flooded, held := attack.stop()
	heap := liveHeap()
	logged := logs.written() - baseLog
	held.release()

	t.Logf("attack: %d NACKs; oversized id: %s; oversized metadata: %s; canary's slowest change %v; log %d bytes; live heap %+.1f MiB",
		flooded, attack.id, attack.metadata, worst, logged, float64(int64(heap)-int64(baseHeap))/(1<<20))
	if worst > canaryDeadline {
		t.Errorf("the canary got a change %v after it was made, want within %v", worst, canaryDeadline)
	}
	if limit := int64(maxAbuseLogBytes + (*abuseScale-1)*2<<10); logged > limit {
		t.Errorf("the server logged %d bytes during the attack, want at most %d; it began:\n%s", logged, limit, logs.head())
	}
	if growth, limit := int64(heap)-int64(baseHeap), int64(maxAbuseHeapGrowth+(*abuseScale-1)<<20); growth > limit {
		t.Errorf("live heap grew by %d MiB during the attack, want at most %d", growth>>20, limit>>20)
	}
	attack.id.check(t, "a 1 MiB node id")
	attack.metadata.check(t, "a 512 KiB label")
	nacks := h.server.metrics.nacks.WithLabelValues("eds")
	eventually(t, "every NACK sent to be counted", func() bool { return metricValue(t, nacks) == float64(flooded) })
}

// attack is the hostile clients at work.
type attack struct {
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	flooded      atomic.Int64
	id, metadata *oversizedStats
	mu           sync.Mutex
	held         heldStreams // guarded by mu
}

// startAttack sets the hostile clients going, abuseScale of each kind,
// and returns once they are at work. flooders are synchronised proxies,
// which reject their endpoints.
func startAttack(t *testing.T, h *harness, flooders []*sotwClient) *attack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &attack{cancel: cancel, id: &oversizedStats{}, metadata: &oversizedStats{}}
	idNode, mdNode := oversizedIDNode(t), oversizedMetadataNode(t)
	for _, flooder := range flooders {
		idConn, mdConn := h.dial(), h.dial()
		a.run(func() { floodNACKs(ctx, flooder, &a.flooded) })
		a.run(func() { a.hold(openAgainAndAgain(ctx, idConn, idNode, a.id)) })
		a.run(func() { a.hold(openAgainAndAgain(ctx, mdConn, mdNode, a.metadata)) })
	}
	eventually(t, "every hostile client to be at work", func() bool {
		return a.flooded.Load() > 100 && a.id.attempts.Load() > 5 && a.metadata.attempts.Load() > 5
	})
	return a
}

func (a *attack) run(f func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

// hold keeps streams until the attack is over.
func (a *attack) hold(streams heldStreams) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = append(a.held, streams...)
}

// stop ends the attack and returns the NACKs sent and the streams the
// oversized clients still hold open.
func (a *attack) stop() (int64, heldStreams) {
	a.cancel()
	a.wg.Wait()
	return a.flooded.Load(), a.held
}

// heldStreams ends the streams an oversized client kept open.
type heldStreams []context.CancelFunc

func (h heldStreams) release() {
	for _, cancel := range h {
		cancel()
	}
}

// floodNACKs rejects c's last endpoints response again and again, as fast
// as the stream takes requests, until ctx ends; sent counts the NACKs.
func floodNACKs(ctx context.Context, c *sotwClient, sent *atomic.Int64) {
	eds := c.last[resource.EndpointType]
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl: resource.EndpointType, ResourceNames: c.names[resource.EndpointType],
		VersionInfo: eds.GetVersionInfo(), ResponseNonce: eds.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "rejected: " + strings.Repeat("m", 2<<10)},
	}
	for ctx.Err() == nil {
		if c.stream.Send(req) != nil {
			return
		}
		sent.Add(1)
	}
}

// oversizedStats is what an oversized client saw of its streams.
type oversizedStats struct {
	attempts atomic.Int64 // streams opened
	refused  atomic.Int64 // ended with InvalidArgument
	accepted atomic.Int64 // answered with configuration
	other    atomic.Int64 // ended otherwise
}

func (s *oversizedStats) String() string {
	return fmt.Sprintf("%d streams, %d refused, %d accepted, %d ended otherwise",
		s.attempts.Load(), s.refused.Load(), s.accepted.Load(), s.other.Load())
}

// check fails t unless every stream of the client was refused with
// InvalidArgument.
func (s *oversizedStats) check(t *testing.T, what string) {
	t.Helper()
	if s.refused.Load() == 0 || s.accepted.Load() > 0 || s.other.Load() > 0 {
		t.Errorf("streams of a node with %s: %v; want each refused with InvalidArgument", what, s)
	}
}

// openAgainAndAgain opens ADS streams on conn announcing node, one after
// the other, until ctx ends. A stream the server answers with
// configuration is held open (up to maxHeldStreams), as a client that
// means harm would; the others are opened again at once.
func openAgainAndAgain(ctx context.Context, conn *grpc.ClientConn, node *corev3.Node, stats *oversizedStats) heldStreams {
	var held heldStreams
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		stats.attempts.Add(1)
		if answered(client, sctx, req, stats) && len(held) < maxHeldStreams {
			held = append(held, cancel)
			continue
		}
		cancel()
	}
	return held
}

// answered opens a stream, sends req and reports whether the server
// answered it with configuration, counting the outcome in stats.
func answered(client discoveryv3.AggregatedDiscoveryServiceClient, ctx context.Context, req *discoveryv3.DiscoveryRequest, stats *oversizedStats) bool {
	stream, err := client.StreamAggregatedResources(ctx)
	if err == nil {
		err = stream.Send(req)
	}
	if err == nil {
		if _, err = stream.Recv(); err == nil {
			stats.accepted.Add(1)
			return true
		}
	}
	if status.Code(err) == codes.InvalidArgument {
		stats.refused.Add(1)
	} else {
		stats.other.Add(1)
	}
	return false
}

// oversizedIDNode is a sidecar whose well-formed node id is over 1 MiB.
func oversizedIDNode(t *testing.T) *corev3.Node {
	node := sidecarNode(t, "x")
	node.Id = "sidecar~10.0.0.9~" + strings.Repeat("x", 1<<20) + ".default~default.svc.cluster.local"
	return node
}

// oversizedMetadataNode is a sidecar with a 512 KiB label.
func oversizedMetadataNode(t *testing.T) *corev3.Node {
	md, err := model.NodeMetadata(map[string]any{
		"NAMESPACE": "default",
		"LABELS":    map[string]any{"app": "hostile", "junk": strings.Repeat("y", 512<<10)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: "sidecar~10.0.0.8~hostile.default~default.svc.cluster.local", Metadata: md}
}

// followChanges moves the reviews endpoints canaryChanges times and
// returns the longest the canary waited for a change.
func followChanges(t *testing.T, h *harness, c *sotwClient) time.Duration {
	t.Helper()
	var worst time.Duration
	for i := range canaryChanges {
		ip := fmt.Sprintf("10.1.1.%d", i+1)
		start := time.Now()
		h.server.Update(world{version: uint64(i + 2), endpoints: []string{ip}}.snapshot())
		waitEndpoints(t, c, ip)
		worst = max(worst, time.Since(start))
		time.Sleep(canaryPause)
	}
	return worst
}

// waitEndpoints accepts c's responses until its reviews endpoints are ip.
func waitEndpoints(t *testing.T, c *sotwClient, ip string) {
	t.Helper()
	for {
		resp := c.next()
		c.accept(resp)
		if resp.TypeUrl == resource.EndpointType {
			if got := endpointIPs(t, resp.Resources); len(got) == 1 && got[0] == ip {
				return
			}
		}
	}
}

// liveHeap is the heap in use after two collections (the second frees
// what the first left in sync.Pools).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// countingWriter counts the bytes logged and keeps the first few KiB.
type countingWriter struct {
	n     atomic.Int64
	mu    sync.Mutex
	start bytes.Buffer
}

const keptLogBytes = 4 << 10

func (w *countingWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := keptLogBytes - w.start.Len(); room > 0 {
		w.start.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

func (w *countingWriter) written() int64 { return w.n.Load() }

func (w *countingWriter) head() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.start.String()
}
