package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// weightedRoute is the http section of a VirtualService splitting traffic
// between subsets v1 and v2.
func weightedRoute(v1, v2 int) string {
	return `
- route:
  - destination:
      host: HOST
      subset: v1
    weight: ` + itoa(v1) + `
  - destination:
      host: HOST
      subset: v2
    weight: ` + itoa(v2) + `
`
}

// TestWeightedSplit: a VirtualService sending 80% to v1 and 20% to v2 gives
// v1 a share within [0.75, 0.85] of 2,000 requests. The service is
// declared with WorkloadEntries, as users of VMs do.
func TestWeightedSplit(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "split", "v1", "v2")
	docs := append(s.workloadEntries(), s.destinationRule(""), s.virtualService(weightedRoute(80, 20)))
	s.apply(t, docs...)
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitUpstream(t, p, "/")
		counts := s.tally(t, p, 2000, nil)
		if got := share(counts, s.up("v1")); got < 0.75 || got > 0.85 {
			t.Fatalf("v1 share = %.3f of %v, want within [0.75, 0.85]\n%s", got, counts, s.debugInfo(p))
		}
		if counts[s.up("v1")]+counts[s.up("v2")] != 2000 {
			t.Fatalf("replies %v: want all 2000 from split-v1 or split-v2", counts)
		}
	})
}

// TestWeightShiftIsHotReloaded: editing the file from 80/20 to 50/50 moves
// the observed split within 2 s of the write, without restarting Envoy.
func TestWeightShiftIsHotReloaded(t *testing.T) {
	s := newScenario(t, "shift", "v1", "v2")
	s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(weightedRoute(80, 20)))
	for _, p := range s.m.proxies {
		s.waitUpstream(t, p, "/")
		counts := s.tally(t, p, 500, nil)
		if got := share(counts, s.up("v1")); got < 0.72 || got > 0.88 {
			t.Fatalf("%s before the edit: v1 share = %.3f of %v, want about 0.8", p.name, got, counts)
		}
	}
	written := s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(weightedRoute(50, 50)))
	for _, p := range s.m.proxies {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			took := s.waitShare(t, p, written, 0.45, 0.55)
			t.Logf("%s: 50/50 split observed %v after the file was written", p.name, took.Round(time.Millisecond))
			if err := p.envoy.Running(); err != nil {
				t.Fatal(err)
			}
			// 2,000 requests, as the issue says: [0.45, 0.55] is ±4.5σ
			// of a fair 50/50 split, so chance alone fails 1 run in 100,000.
			counts := s.tally(t, p, 2000, nil)
			if got := share(counts, s.up("v1")); got < 0.45 || got > 0.55 {
				t.Fatalf("after the edit: v1 share = %.3f of %v, want within [0.45, 0.55]", got, counts)
			}
		})
	}
}

// hotReloadLimit is how soon after a file write the new split must be seen:
// 2 s as promised, plus a margin for slow, shared CI machines.
const (
	hotReloadPromise = 2 * time.Second
	hotReloadMargin  = 3 * time.Second
)

// waitShare sends batches of 200 requests until v1's share of one batch is
// within [lo, hi], and returns the time from written to the end of that
// batch. With 200 requests a batch from an 80/20 split lands in [0.45, 0.55]
// with negligible probability, so a fitting batch shows the new split.
func (s *scenario) waitShare(t *testing.T, p *proxy, written time.Time, lo, hi float64) time.Duration {
	t.Helper()
	var counts map[string]int
	for time.Since(written) < hotReloadPromise+hotReloadMargin {
		counts = s.tally(t, p, 200, nil)
		if got := share(counts, s.up("v1")); got >= lo && got <= hi {
			took := time.Since(written)
			if took > hotReloadPromise {
				t.Logf("%s: the new split took %v, more than the promised %v (within the CI margin)", p.name, took, hotReloadPromise)
			}
			return took
		}
	}
	t.Fatalf("%s: v1 share not within [%.2f, %.2f] %v after the write; last batch %v\n%s",
		p.name, lo, hi, hotReloadPromise+hotReloadMargin, counts, s.debugInfo(p))
	return 0
}

// TestInvalidEditKeepsPreviousConfig: weights that do not add up to 100 are
// refused by Isthmus, the previous split stays in effect, and Envoy is never
// sent (so never rejects) the bad configuration. A later valid edit applies.
func TestInvalidEditKeepsPreviousConfig(t *testing.T) {
	s := newScenario(t, "badedit", "v1", "v2")
	t.Cleanup(func() { // never leave an invalid file behind for later tests
		if t.Failed() {
			_ = localmesh.RemoveFile(s.m.dir, s.name+".yaml")
		}
	})
	s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(weightedRoute(80, 20)))
	for _, p := range s.m.proxies {
		s.waitUpstream(t, p, "/")
	}
	s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(weightedRoute(80, 30)))
	s.m.waitConfigErrors(t, func(n float64) bool { return n > 0 })
	time.Sleep(500 * time.Millisecond) // a push, were one wrongly made, lands within the debounce
	for _, p := range s.m.proxies {
		counts := s.tally(t, p, 2000, nil)
		if got := share(counts, s.up("v1")); got < 0.75 || got > 0.85 {
			t.Fatalf("%s after the invalid edit: v1 share = %.3f of %v, want the previous 80/20 split\n%s",
				p.name, got, counts, s.debugInfo(p))
		}
	}
	s.m.checkNoRejections(t)
	written := s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(weightedRoute(50, 50)))
	for _, p := range s.m.proxies {
		s.waitShare(t, p, written, 0.45, 0.55)
	}
	s.m.waitConfigErrors(t, func(n float64) bool { return n == 0 })
}

// TestHeaderRoute: requests with "end-user: jason" go to v2, all others to v1.
func TestHeaderRoute(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "header", "v1", "v2")
	s.apply(t, s.serviceEntry(), s.destinationRule(""), s.virtualService(`
- match:
  - headers:
      end-user:
        exact: jason
  route:
  - destination:
      host: HOST
      subset: v2
- route:
  - destination:
      host: HOST
      subset: v1
`))
	jason := http.Header{"End-User": {"jason"}}
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/", jason, func(r localmesh.Reply) bool { return r.Upstream == s.up("v2") })
		if counts := s.tally(t, p, 50, jason); counts[s.up("v2")] != 50 {
			t.Fatalf("with end-user: jason, replies %v; want all from header-v2\n%s", counts, s.debugInfo(p))
		}
		if counts := s.tally(t, p, 50, http.Header{"End-User": {"someone-else"}}); counts[s.up("v1")] != 50 {
			t.Fatalf("with end-user: someone-else, replies %v; want all from header-v1\n%s", counts, s.debugInfo(p))
		}
		if counts := s.tally(t, p, 50, nil); counts[s.up("v1")] != 50 {
			t.Fatalf("without end-user, replies %v; want all from header-v1\n%s", counts, s.debugInfo(p))
		}
	})
}

// TestDelegateVirtualService: the root VirtualService hands /api to a
// delegate VirtualService; the delegate's /api/v2 route goes to v2, the rest
// of /api to v1 (its catch-all, narrowed to /api), and a delegate route
// outside /api is not taken: those requests follow the root's own rule.
func TestDelegateVirtualService(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "delegate", "v1", "v2", "v3")
	delegate := strings.ReplaceAll(fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %s-api, namespace: default}
spec:
  http:
  - match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: HOST, subset: v2}}]
  - match: [{uri: {prefix: /elsewhere}}]
    route: [{destination: {host: HOST, subset: v2}}]
  - route: [{destination: {host: HOST, subset: v1}}]`, s.name), "HOST", s.host)
	s.apply(t, s.serviceEntry(), s.destinationRule(""), delegate, s.virtualService(fmt.Sprintf(`
- match: [{uri: {prefix: /api}}]
  delegate: {name: %s-api}
- route: [{destination: {host: HOST, subset: v3}}]
`, s.name)))
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/api/v2/x", nil, func(r localmesh.Reply) bool { return r.Upstream == s.up("v2") })
		for path, want := range map[string]string{"/api/v2/x": "v2", "/api/other": "v1", "/elsewhere": "v3", "/": "v3"} {
			if r := s.get(t, p, path, nil); r.Upstream != s.up(want) {
				t.Errorf("%s went to %q, want %s", path, r.Upstream, s.up(want))
			}
		}
	})
}
