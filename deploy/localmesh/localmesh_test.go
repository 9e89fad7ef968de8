package localmesh

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func startUpstream(t *testing.T, name string) *Upstream {
	t.Helper()
	u, err := StartUpstream(name, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func newClient(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestUpstreamAnswersWithItsNameAndRecordsRequests(t *testing.T) {
	u := startUpstream(t, "reviews-v1")
	c := newClient(t, u.Addr)
	r, err := c.Get(context.Background(), "reviews.default.svc.cluster.local", "/hello", http.Header{"End-User": {"jason"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.Upstream != "reviews-v1" || r.Body != "reviews-v1\n" {
		t.Fatalf("reply = %d %q %q, want 200 from reviews-v1", r.Status, r.Upstream, r.Body)
	}
	reqs := u.Requests()
	if len(reqs) != 1 || reqs[0].Host != "reviews.default.svc.cluster.local" || reqs[0].Path != "/hello" ||
		reqs[0].Header.Get("End-User") != "jason" {
		t.Fatalf("recorded %+v", reqs)
	}
	u.Reset()
	if u.Count() != 0 {
		t.Fatalf("Count after Reset = %d", u.Count())
	}
}

func TestUpstreamStatusAndDelayConventions(t *testing.T) {
	u := startUpstream(t, "slow")
	c := newClient(t, u.Addr)
	ctx := context.Background()
	r, err := c.Get(ctx, "x", "/status/503", nil)
	if err != nil || r.Status != 503 || r.Upstream != "slow" {
		t.Fatalf("/status/503 gave %+v, %v", r, err)
	}
	r, err = c.Get(ctx, "x", "/delay?ms=150", nil)
	if err != nil || r.Status != 200 || r.Latency < 150*time.Millisecond {
		t.Fatalf("/delay?ms=150 gave status %d after %v, %v", r.Status, r.Latency, err)
	}
	u.Handle("/custom", Behavior{Status: 418})
	r, err = c.Get(ctx, "x", "/custom", nil)
	if err != nil || r.Status != 418 {
		t.Fatalf("/custom gave %+v, %v", r, err)
	}
	if u.Count() != 3 {
		t.Fatalf("Count = %d, want 3", u.Count())
	}
}

func TestNonLoopbackAddressesAreRefused(t *testing.T) {
	if _, err := StartUpstream("x", "0.0.0.0:0"); err == nil {
		t.Fatal("StartUpstream accepted 0.0.0.0")
	}
	if _, err := NewClient("192.0.2.1:80"); err == nil {
		t.Fatal("NewClient accepted 192.0.2.1")
	}
}

func TestWriteFileAtomicReplacesContent(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(dir, "a.yaml", []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "a.yaml"))
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only a.yaml", len(entries))
	}
	if err := RemoveFile(dir, "a.yaml"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveFile(dir, "a.yaml"); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}

func TestMissingEnvoyTellsToRunMakeTools(t *testing.T) {
	t.Setenv("ENVOY_BIN", filepath.Join(t.TempDir(), "no-envoy"))
	_, err := StartEnvoy(context.Background(), EnvoyOptions{Name: "x", LogDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("error = %v, want one saying to run make tools", err)
	}
}

// staticBootstrap routes every request on listenAddr to upstreamAddr through
// a cluster named "static_upstream".
func staticBootstrap(listenIP string, listenPort int, upstreamAddr string) []byte {
	host, port, _ := net.SplitHostPort(upstreamAddr)
	return fmt.Appendf(nil, `
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 0}}
static_resources:
  listeners:
  - name: static_listener
    address: {socket_address: {address: %s, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: static
          route_config:
            name: static_route
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: static_upstream}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: static_upstream
    type: STATIC
    load_assignment:
      cluster_name: static_upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}
`, listenIP, listenPort, host, port)
}

func TestEnvoyWithStaticConfigServesTrafficAndStats(t *testing.T) {
	u := startUpstream(t, "static-v1")
	const port = 18080
	ip, err := RandomLoopbackIP(port)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := StartEnvoy(ctx, EnvoyOptions{Name: "static", Bootstrap: staticBootstrap(ip, port, u.Addr), LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	listenAddr := net.JoinHostPort(ip, strconv.Itoa(port))
	if err := e.WaitListener(ctx, listenAddr); err != nil {
		t.Fatal(err)
	}
	counts, err := newClient(t, listenAddr).Tally(ctx, 20, "anything.example", "/", nil)
	if err != nil {
		t.Fatalf("%v\nenvoy log:\n%s", err, e.LogTail(30))
	}
	if counts["static-v1"] != 20 || u.Count() != 20 {
		t.Fatalf("replies %v, upstream count %d; want 20 from static-v1", counts, u.Count())
	}
	stats, err := e.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := stats["cluster.static_upstream.upstream_rq_total"]; got != 20 {
		t.Fatalf("cluster.static_upstream.upstream_rq_total = %d, want 20", got)
	}
	if rejected := stats.Matching(".update_rejected").NonZero(); len(rejected) != 0 {
		t.Fatalf("rejected updates:\n%s", rejected)
	}
}
