package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// streamEnd is how a client's stream ended, and when.
type streamEnd struct {
	err error
	at  time.Time
}

// drainedClients connects sotw and delta proxies, synchronised, and returns
// a channel on which the end of each of their streams arrives.
func drainedClients(t *testing.T, h *harness, sotw, delta int) chan streamEnd {
	t.Helper()
	ends := make(chan streamEnd, sotw+delta)
	watch := func(ended chan error) {
		go func() {
			err := <-ended
			ends <- streamEnd{err, time.Now()}
		}()
	}
	for i := range sotw {
		c := newSotwClient(t, h.dial(), sidecarNode(t, fmt.Sprintf("sotw-%d", i)))
		c.sync()
		watch(c.ended)
	}
	for i := range delta {
		c := newDeltaClient(t, h.dial(), sidecarNode(t, fmt.Sprintf("delta-%d", i)))
		c.sync()
		watch(c.ended)
	}
	return ends
}

// waitDrainEnds waits for n streams to end as Drain ends them, within
// limit, and returns when the last ended.
func waitDrainEnds(t *testing.T, ends chan streamEnd, n int, limit time.Duration) time.Time {
	t.Helper()
	var last time.Time
	timeout := time.After(limit)
	for i := range n {
		select {
		case e := <-ends:
			if !isDrainEnd(e.err) {
				t.Errorf("a stream ended with %v, want Unavailable %q", e.err, drainingMessage)
			}
			last = e.at
		case <-timeout:
			t.Fatalf("%d of %d streams still open", n-i, n)
		}
	}
	return last
}

// isDrainEnd reports whether err is the end Drain gives a stream.
func isDrainEnd(err error) bool {
	return status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), drainingMessage)
}

// Drain, as on SIGTERM: the server reports not ready and refuses new
// connections at once; each open stream, of either protocol, is ended
// with Unavailable (the proxy reconnects, to another replica), one proxy
// after the other across the period rather than all at once; Drain logs
// its start and end and returns once the server is stopped.
func TestDrainEndsStreamsAcrossThePeriod(t *testing.T) {
	logs := &logBuffer{}
	h := startServerWith(t, Options{Secrets: testSecrets(t), InsecureIdentities: true, Logger: logs.logger()})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	ends := drainedClients(t, h, 2, 1)
	eventually(t, "/readyz to return 200", func() bool { code, _ := h.get("/readyz"); return code == http.StatusOK })

	const period = 3 * time.Second
	start := time.Now()
	drained := make(chan struct{})
	go func() {
		h.server.Drain(context.Background(), period)
		close(drained)
	}()
	eventually(t, "/readyz to say draining", func() bool {
		code, body := h.get("/readyz")
		return code == http.StatusServiceUnavailable && body == "draining\n"
	})
	waitServed(t, h)
	if err := firstResponse(t, h.dial(), sidecarNode(t, "late"), false); status.Code(err) != codes.Unavailable {
		t.Errorf("a proxy connecting while the server drains: %v, want Unavailable", err)
	}

	last := waitDrainEnds(t, ends, 3, period+waitLimit)
	// Three proxies over 3s: the last is ended 2s in. Only a lower bound
	// is asserted: a loaded machine makes it later, never earlier.
	if d := last.Sub(start); d < period/3 {
		t.Errorf("the last stream ended %v after the drain began, want the ends spread across %v", d, period)
	}
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("Drain has not returned")
	}
	if len(logs.lines("xDS drain started")) != 1 || len(logs.lines("xDS drain finished")) != 1 || len(logs.lines("streams_left=0")) != 1 {
		t.Errorf("drain logs:\n%s\nwant its start and its end with no stream left", strings.Join(logs.lines("drain"), "\n"))
	}
}

// waitServed waits for Serve to return, which it does once the listener is
// closed.
func waitServed(t *testing.T, h *harness) {
	t.Helper()
	select {
	case err := <-h.served:
		if err != nil {
			t.Errorf("Serve returned %v while draining, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve still accepting connections while draining")
	}
}

// The context given to Drain bounds it: once it ends, the streams left
// are ended at once, as by the period's end.
func TestDrainCutShortByItsContext(t *testing.T) {
	h := startServer(t, nil)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	ends := drainedClients(t, h, 2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan struct{})
	go func() {
		h.server.Drain(ctx, time.Hour)
		close(drained)
	}()
	waitDrainEnds(t, ends, 1, waitLimit) // the first proxy's, at once
	cancel()
	waitDrainEnds(t, ends, 3, waitLimit)
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("Drain has not returned after its context ended")
	}
	if n := h.server.openStreams(); n != 0 {
		t.Errorf("%d streams open after Drain returned", n)
	}
}

// Stop during a drain cuts it short: Drain returns at once instead of
// waiting out its period.
func TestStopCutsADrainShort(t *testing.T) {
	h := startServer(t, nil)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	ends := drainedClients(t, h, 2, 0)
	drained := make(chan struct{})
	go func() {
		h.server.Drain(context.Background(), time.Hour)
		close(drained)
	}()
	waitDrainEnds(t, ends, 1, waitLimit) // the first proxy's, at once
	h.server.Stop()
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("Drain still waiting out its period after Stop")
	}
	select {
	case <-ends:
	case <-time.After(waitLimit):
		t.Fatal("the second stream still open after Stop")
	}
}

// A stream whose proxy's streams are being ended (its request was on its
// way) ends at its first request, in either protocol.
func TestEndedProxyStreamEndsAtItsFirstRequest(t *testing.T) {
	h := startServer(t, meshTranslate)
	node, other := sidecarNode(t, "app-1"), sidecarNode(t, "app-2")
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	h.server.cache.end(node.Id)
	h.server.cache.end(other.Id)
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(h.dial())
	sotw, err := ads.StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := sotw.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := sotw.Recv(); !isDrainEnd(err) {
		t.Errorf("state-of-the-world stream ended with %v, want Unavailable %q", err, drainingMessage)
	}
	delta, err := ads.DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := delta.Send(&discoveryv3.DeltaDiscoveryRequest{Node: other, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := delta.Recv(); !isDrainEnd(err) {
		t.Errorf("delta stream ended with %v, want Unavailable %q", err, drainingMessage)
	}
}
