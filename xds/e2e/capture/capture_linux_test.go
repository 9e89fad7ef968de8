package capture

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
)

// testTimeout bounds the whole test, setup included.
const testTimeout = 90 * time.Second

// TestRedirectCapture sends an application's plain HTTP calls to a service
// VIP through REDIRECT capture on both ends: client app → iptables →
// client Envoy 15001 (virtualOutbound → 0.0.0.0_9080 → outbound cluster) →
// reviews pod → iptables → reviews Envoy 15006 (virtualInbound →
// inbound|8080||) → reviews app.
func TestRedirectCapture(t *testing.T) {
	if err := checkPrerequisites(); err != nil {
		t.Fatal(err)
	}
	envoyBin, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	removeStaleNamespaces()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	m := startMesh(ctx, t, envoyBin)
	defer func() {
		if t.Failed() {
			m.saveDiagnostics(t)
		}
	}()
	app := podClient(m.client.ns)

	t.Run("VIP reaches reviews-v1 through both sidecars", func(t *testing.T) {
		r := m.mustGet(ctx, t, app, "http://"+net.JoinHostPort(reviewsVIP, itoa(reviewsPort))+"/vip", nil)
		m.expectUpstream(t, r, "reviews-v1")
		seen := m.seen(t, "reviews-v1", "/vip")
		expectFromLocalSidecar(t, seen, "the server sidecar's inbound|8080|| cluster")
		if seen.Header.Get("X-Request-Id") == "" {
			t.Errorf("reviews-v1 got no x-request-id, so no sidecar handled the request; headers %v", seen.Header)
		}
		if seen.Host != reviewsVIP+":"+itoa(reviewsPort) {
			t.Errorf("reviews-v1 saw Host %q, want the VIP the application called", seen.Host)
		}
	})

	t.Run("short name with the canary header reaches reviews-v2", func(t *testing.T) {
		hdr := http.Header{http.CanonicalHeaderKey(canaryHeader): {canaryUser}}
		r := m.mustGet(ctx, t, app, "http://"+net.JoinHostPort(reviewsShort, itoa(reviewsPort))+"/canary", hdr)
		m.expectUpstream(t, r, "reviews-v2")
		expectFromLocalSidecar(t, m.seen(t, "reviews-v2", "/canary"), "the server sidecar's inbound|8080|| cluster")
	})

	t.Run("FQDN reaches reviews-v1", func(t *testing.T) {
		r := m.mustGet(ctx, t, app, "http://"+net.JoinHostPort(reviewsHost, itoa(reviewsPort))+"/fqdn", nil)
		m.expectUpstream(t, r, "reviews-v1")
	})

	t.Run("TCP port of the VIP reaches a reviews app listening on its pod IP only", func(t *testing.T) {
		r := m.mustGet(ctx, t, app, "http://"+net.JoinHostPort(reviewsVIP, itoa(reviewsTCPPort))+"/tcp", nil)
		if r.Status != http.StatusOK || (r.Upstream != "reviews-v1" && r.Upstream != "reviews-v2") {
			t.Fatalf("answer %d from %q, want 200 from a reviews pod\n%s", r.Status, r.Upstream, m.explain())
		}
		// inbound|7000|| forwards to the original destination, the pod IP,
		// from the passthrough source address.
		expectDelivered(t, m.seen(t, r.Upstream, "/tcp"), "127.0.0.6", "the server sidecar's inbound|7000|| cluster")
	})

	t.Run("reviews-v1 calling its own service comes back through its inbound side", func(t *testing.T) {
		self := podClient(m.reviewsV1.ns)
		r := m.mustGet(ctx, t, self, "http://"+net.JoinHostPort(reviewsShort, itoa(reviewsPort))+"/hairpin", nil)
		m.expectUpstream(t, r, "reviews-v1")
		expectFromLocalSidecar(t, m.seen(t, "reviews-v1", "/hairpin"), "its sidecar's inbound|8080|| cluster")
	})

	t.Run("destination outside the mesh passes through", func(t *testing.T) {
		r := m.mustGet(ctx, t, app, "http://"+net.JoinHostPort(hubIP, itoa(outsidePort))+"/outside", nil)
		m.expectUpstream(t, r, "outside")
		expectDelivered(t, m.seen(t, "outside", "/outside"), clientIP, "the client pod")
		m.expectStats(ctx, t, "client", map[string]uint64{
			"listener.0.0.0.0_15001.downstream_cx_total":   1, // kept by virtualOutbound itself
			"cluster.PassthroughCluster.upstream_cx_total": 1,
		})
	})

	t.Run("inbound port no service declares passes through to the app", func(t *testing.T) {
		direct := httpIn(m.net.hub) // a caller without a sidecar
		r := m.mustGet(ctx, t, direct, "http://"+net.JoinHostPort(reviewsV1IP, itoa(undeclaredApp))+"/direct", nil)
		m.expectUpstream(t, r, "reviews-v1")
		expectDelivered(t, m.seen(t, "reviews-v1", "/direct"), "127.0.0.6", "InboundPassthroughCluster's source address")
	})

	t.Run("VIP exists only through capture", func(t *testing.T) {
		conn, err := m.net.hub.dial(ctx, "tcp", net.JoinHostPort(reviewsVIP, itoa(reviewsPort)))
		if err == nil {
			conn.Close()
			t.Fatalf("the hub, which has no sidecar, reached %s; the test network routes the VIP", reviewsVIP)
		}
	})

	t.Run("sidecar stats count the captured traffic", func(t *testing.T) {
		m.expectStats(ctx, t, "client", map[string]uint64{
			// virtualOutbound handed the VIP connections to the unbound
			// per-port listeners.
			"listener.0.0.0.0_9080.downstream_cx_total":                                    3,
			"listener." + reviewsVIP + "_" + itoa(reviewsTCPPort) + ".downstream_cx_total": 1,
			"http.outbound_0.0.0.0_9080.downstream_rq_total":                               3,
			"cluster.outbound|9080|v1|" + reviewsHost + ".upstream_rq_total":               2,
			"cluster.outbound|9080|v2|" + reviewsHost + ".upstream_rq_total":               1,
			"cluster.outbound|9000||" + reviewsHost + ".upstream_cx_total":                 1,
		})
		m.expectStats(ctx, t, "reviews-v1", map[string]uint64{
			"listener.0.0.0.0_15006.downstream_cx_total":          2,
			"http.inbound_0.0.0.0_8080.downstream_rq_total":       3,
			"cluster.inbound|8080||.upstream_rq_total":            3,
			"cluster.InboundPassthroughCluster.upstream_cx_total": 1,
		})
		m.expectStats(ctx, t, "reviews-v2", map[string]uint64{
			"http.inbound_0.0.0.0_8080.downstream_rq_total": 1,
			"cluster.inbound|8080||.upstream_rq_total":      1,
		})
	})

	t.Run("no sidecar rejected an update", func(t *testing.T) {
		for role, s := range m.sidecars {
			stats, err := s.stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rejected := stats.Matching(".update_rejected").NonZero(); len(rejected) > 0 {
				t.Errorf("envoy %s rejected updates:\n%s\nlog:\n%s", role, rejected, s.proc.logTail(20))
			}
		}
	})
}

// mustGet sends the request and fails the test, explaining the mesh state,
// when it gets no answer.
func (m *mesh) mustGet(ctx context.Context, t *testing.T, c *http.Client, url string, hdr http.Header) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := get(ctx, c, url, hdr)
	if err != nil {
		t.Fatalf("%v\n%s", err, m.explain())
	}
	return r
}

// expectUpstream fails unless app answered r with 200.
func (m *mesh) expectUpstream(t *testing.T, r reply, app string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Upstream != app {
		t.Fatalf("answer %d from %q (body %q, headers %v), want 200 from %s\n%s",
			r.Status, r.Upstream, r.Body, r.Header, app, m.explain())
	}
}

// seen returns the request app received on path.
func (m *mesh) seen(t *testing.T, app, path string) seenRequest {
	t.Helper()
	req, ok := m.apps[app].lastRequest(path)
	if !ok {
		t.Fatalf("%s received no request for %s", app, path)
	}
	return req
}

// expectFromLocalSidecar checks that the app got the request from its own
// pod's sidecar: over loopback (127.0.0.1 when the inbound cluster targets
// localhost, 127.0.0.6 when it targets the pod IP), not from the caller's
// pod address.
func expectFromLocalSidecar(t *testing.T, req seenRequest, what string) {
	t.Helper()
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Errorf("request for %s came from %s, want a loopback peer (%s)", req.Path, req.RemoteAddr, what)
	}
}

// expectDelivered checks the peer address of the connection the app got
// the request on.
func expectDelivered(t *testing.T, req seenRequest, wantHost, what string) {
	t.Helper()
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil || host != wantHost {
		t.Errorf("request for %s came from %s, want %s (%s)", req.Path, req.RemoteAddr, wantHost, what)
	}
}

// expectStats checks that each named stat of the role's sidecar is at least
// its minimum.
func (m *mesh) expectStats(ctx context.Context, t *testing.T, role string, atLeast map[string]uint64) {
	t.Helper()
	stats, err := m.sidecars[role].stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, min := range atLeast {
		got, ok := stats[name]
		if !ok {
			t.Errorf("envoy %s has no stat %s", role, name)
			continue
		}
		if got < min {
			t.Errorf("envoy %s: %s = %d, want at least %d", role, name, got, min)
		}
	}
}
