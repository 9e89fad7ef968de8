package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestFaultAbort: an abort fault on 100% of requests answers the configured
// status from Envoy itself; the upstream sees nothing.
func TestFaultAbort(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "abort", "v1")
	s.apply(t, s.serviceEntry(), s.virtualService(`
- fault:
    abort:
      httpStatus: 418
      percentage:
        value: 100
  route:
  - destination:
      host: HOST
`))
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Status == http.StatusTeapot })
		s.resetUpstreams()
		for range 20 {
			if r := s.get(t, p, "/", nil); r.Status != http.StatusTeapot || r.Upstream != "" {
				t.Fatalf("reply %d from %q, want 418 from Envoy\n%s", r.Status, r.Upstream, s.debugInfo(p))
			}
		}
		if n := s.upstreams["v1"].Count(); n != 0 {
			t.Fatalf("upstream received %d requests, want 0", n)
		}
	})
}

// TestFaultDelay: a fixed 1 s delay on 100% of requests holds each request
// 1 s before the upstream answers it.
//
// Envoy arms its delay timer from the event loop's cached clock, which can
// be a few milliseconds old when the request is read, so the delay seen by
// the client may be up to that much shorter than configured.
const delayTolerance = 10 * time.Millisecond

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "delay", "v1")
	s.apply(t, s.serviceEntry(), s.virtualService(`
- fault:
    delay:
      fixedDelay: 1s
      percentage:
        value: 100
  route:
  - destination:
      host: HOST
`))
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Upstream != "" && r.Latency >= time.Second-delayTolerance })
		for range 3 {
			r := s.get(t, p, "/", nil)
			if r.Status != http.StatusOK || r.Upstream != s.up("v1") || r.Latency < time.Second-delayTolerance {
				t.Fatalf("reply %d from %q after %v, want 200 from %s after 1s\n%s",
					r.Status, r.Upstream, r.Latency, s.up("v1"), s.debugInfo(p))
			}
		}
	})
}

// TestRouteTimeout: a 500ms route timeout answers 504 when the upstream
// takes 2 s, long before the upstream would have answered.
func TestRouteTimeout(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "timeout", "v1")
	s.apply(t, s.serviceEntry(), s.virtualService(`
- timeout: 500ms
  route:
  - destination:
      host: HOST
`))
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitUpstream(t, p, "/") // the route is in place
		r := s.get(t, p, "/delay?ms=2000", nil)
		if r.Status != http.StatusGatewayTimeout || r.Latency >= 1500*time.Millisecond {
			t.Fatalf("reply %d after %v, want 504 after about 500ms\n%s", r.Status, r.Latency, s.debugInfo(p))
		}
		if r.Latency < 450*time.Millisecond {
			t.Fatalf("504 after only %v, want it at the 500ms timeout", r.Latency)
		}
	})
}

// TestRetries: with 3 retry attempts on 5xx, one client request against an
// upstream that always answers 503 reaches the upstream exactly 4 times.
func TestRetries(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "retry", "v1")
	s.apply(t, s.serviceEntry(), s.virtualService(`
- retries:
    attempts: 3
    retryOn: 5xx
  route:
  - destination:
      host: HOST
`))
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		// The retry policy is in place once a failing request is retried.
		s.waitFor(t, p, "/status/503", nil, func(localmesh.Reply) bool {
			defer s.resetUpstreams()
			return s.upstreams["v1"].Count() > 1
		})
		s.resetUpstreams()
		r := s.get(t, p, "/status/503", nil)
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("reply %d, want the upstream's 503 after the retries", r.Status)
		}
		if n := s.upstreams["v1"].Count(); n != 4 {
			t.Fatalf("upstream received %d requests for one client request, want 4 (1 + 3 retries)\n%s", n, s.debugInfo(p))
		}
	})
}

// TestMirror: with mirroring to v2, v1 answers every request and v2
// receives a copy of each, its Host suffixed with "-shadow".
func TestMirror(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "mirror", "v1", "v2")
	s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(`
- route:
  - destination:
      host: HOST
      subset: v1
  mirror:
    host: HOST
    subset: v2
  mirrorPercentage:
    value: 100
`))
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/", nil, func(localmesh.Reply) bool { return s.upstreams["v2"].Count() > 0 })
		waitQuiet(s.upstreams["v2"]) // copies of the requests above are still arriving
		s.resetUpstreams()
		const n = 20
		if counts := s.tally(t, p, n, nil); counts[s.up("v1")] != n {
			t.Fatalf("replies %v, want all %d from mirror-v1", counts, n)
		}
		waitCopies(t, s.upstreams["v2"], func(got int) bool { return got >= n })
		copies := s.upstreams["v2"].Requests()
		if len(copies) != n {
			t.Fatalf("mirror received %d copies, want %d", len(copies), n)
		}
		for _, c := range copies {
			if !strings.HasSuffix(c.Host, "-shadow") {
				t.Fatalf("mirrored request has Host %q, want it to end in -shadow", c.Host)
			}
		}
	})
}

// waitQuiet waits until u has received nothing for 300ms.
func waitQuiet(u *localmesh.Upstream) {
	for last := -1; u.Count() != last; time.Sleep(300 * time.Millisecond) {
		last = u.Count()
	}
}

// waitCopies waits up to 5 s for ok(number of requests u received): mirrored
// copies are sent without waiting for them.
func waitCopies(t *testing.T, u *localmesh.Upstream, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(u.Count()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %d requests; expected count not reached", u.Name, u.Count())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCircuitBreaking: with at most 1 connection and 1 pending request,
// 20 concurrent requests to a slow upstream overflow: some get 503 from
// Envoy, and the cluster's overflow counters say so.
func TestCircuitBreaking(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "breaker", "v1")
	s.apply(t, s.serviceEntry(), s.destinationRule(`
connectionPool:
  tcp:
    maxConnections: 1
  http:
    http1MaxPendingRequests: 1
`))
	cluster := "cluster.outbound|9080||" + s.host
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/", nil, func(localmesh.Reply) bool { return s.clusterHasBreaker(p, cluster) })
		statuses := concurrentStatuses(t, p, s.host, "/delay?ms=500", 20)
		if statuses[http.StatusServiceUnavailable] == 0 || statuses[http.StatusOK] == 0 {
			t.Fatalf("statuses %v, want some 200 and some 503 (overflow)\n%s", statuses, s.debugInfo(p))
		}
		stats, err := p.envoy.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		overflow := stats[cluster+".upstream_rq_pending_overflow"] + stats[cluster+".upstream_cx_overflow"]
		if overflow == 0 {
			t.Fatalf("no overflow counted; %s stats:\n%s", cluster, matchingPrefix(stats, cluster))
		}
	})
}

// clusterHasBreaker reports whether p's Envoy already holds cluster (a
// stat prefix, "cluster.NAME") with a connection limit of 1.
func (s *scenario) clusterHasBreaker(p *proxy, cluster string) bool {
	name := strings.TrimPrefix(cluster, "cluster.")
	query := "resource=dynamic_active_clusters&name_regex=" + url.QueryEscape(regexp.QuoteMeta(name))
	dump, err := p.envoy.ConfigDump(context.Background(), query)
	if err != nil {
		return false
	}
	var doc struct {
		Configs []struct {
			Cluster struct {
				Name            string `json:"name"`
				CircuitBreakers struct {
					Thresholds []struct {
						MaxConnections *int `json:"max_connections"`
					} `json:"thresholds"`
				} `json:"circuit_breakers"`
			} `json:"cluster"`
		} `json:"configs"`
	}
	if json.Unmarshal(dump, &doc) != nil {
		return false
	}
	for _, c := range doc.Configs {
		for _, th := range c.Cluster.CircuitBreakers.Thresholds {
			if c.Cluster.Name == name && th.MaxConnections != nil && *th.MaxConnections == 1 {
				return true
			}
		}
	}
	return false
}

// concurrentStatuses sends n requests at once and counts reply statuses.
func concurrentStatuses(t *testing.T, p *proxy, host, path string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := p.client.Get(context.Background(), host, path, nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			statuses[r.Status]++
		})
	}
	wg.Wait()
	if statuses[-1] > 0 {
		t.Fatalf("%d of %d requests failed to get any reply", statuses[-1], n)
	}
	return statuses
}

func matchingPrefix(stats localmesh.Stats, prefix string) localmesh.Stats {
	out := localmesh.Stats{}
	for name, v := range stats {
		if strings.HasPrefix(name, prefix) {
			out[name] = v
		}
	}
	return out
}
