package kubebench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

func TestAddressIn(t *testing.T) {
	for _, tc := range []struct {
		c          int
		addr, want string
	}{
		{0, "10.0.5.3", "10.0.5.3"},
		{1, "10.0.5.3", "10.128.5.3"},
		{1, "10.3.232.250", "10.131.232.250"},
	} {
		if got := AddressIn(tc.c, tc.addr); got != tc.want {
			t.Errorf("AddressIn(%d, %s) = %s, want %s", tc.c, tc.addr, got, tc.want)
		}
	}
}

// TestProxyIdentity: proxies cover every namespace in both clusters, at
// addresses of their own cluster's pods of their service.
func TestProxyIdentity(t *testing.T) {
	opts := DefaultOptions()
	spec := opts.Spec()
	seen := map[string]bool{}
	for k := 0; k < 2*spec.Namespaces; k++ {
		id := ProxyIdentity(spec, k)
		seen[id.ClusterID+"/"+id.Namespace] = true
		c := 0
		if id.ClusterID == "gcp" {
			c = 1
		}
		s := newService(spec, c, id.Service.Index)
		found := false
		for _, ep := range s.svc.Endpoints {
			found = found || ep.Address == id.IP
		}
		if !found {
			t.Errorf("proxy %d in %s at %s: not an address of %s there", k, id.ClusterID, id.IP, id.Service.Host)
		}
	}
	if len(seen) != 2*spec.Namespaces {
		t.Errorf("%d proxies cover %d cluster namespaces, want %d", 2*spec.Namespaces, len(seen), 2*spec.Namespaces)
	}
}

// TestServiceSince: a change counts as seen at its own address and at any
// later generation's, never at an earlier one's or a stable endpoint's.
func TestServiceSince(t *testing.T) {
	spec := DefaultOptions().Spec()
	s := newService(spec, 1, 7)
	stable := s.svc.Endpoints[0].Address
	_, first := s.next()
	gen, second := s.next()
	_, third := s.next()
	since := s.since(gen)
	for addr, want := range map[string]bool{first.Address: false, second.Address: true, third.Address: true, stable: false} {
		if got := since(addr); got != want {
			t.Errorf("since(%d)(%s) = %v, want %v", gen, addr, got, want)
		}
	}
	if !strings.HasPrefix(third.Address, "10.128.") {
		t.Errorf("moved endpoint in gcp at %s, want 10.128.x.x", third.Address)
	}
}

func TestEditWeight(t *testing.T) {
	for e := range 200 {
		for _, now := range []int{80, 21 + e%59} {
			if w := editWeight(e, now); w == now || w < 21 || w > 79 {
				t.Fatalf("editWeight(%d, %d) = %d", e, now, w)
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	opts := DefaultOptions()
	opts.IsthmusBin, opts.WorkDir = "isthmus", t.TempDir()
	if err := opts.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if spec := opts.Spec(); spec.Services != 100 || spec.Namespaces != 10 || spec.Validate() != nil {
		t.Errorf("default spec %+v", spec)
	}
	opts.PodsPerCluster = maxServices*opts.EndpointsPerService + 1
	if opts.validate() == nil {
		t.Error("too many pods accepted")
	}
}

// TestWriteMarkdown: the table has a row per phase with the writes, the
// latencies and Isthmus's cost.
func TestWriteMarkdown(t *testing.T) {
	cpu, rss := 3.0, int64(200<<20)
	phase := func(name string, made int) PhaseReport {
		return PhaseReport{
			Result: xdsload.ScenarioResult{Name: name, Changes: made, Affected: 10, Observed: 10,
				Latency: xdsload.Percentiles{P50: 100, P90: 200, P99: 1500, Max: 2000}, Duration: 30 * time.Second,
				CPUSeconds: &cpu, PeakRSSBytes: &rss},
			Writes: Writes{Requested: 50, Made: made, Achieved: 49.5, Write: xdsload.Percentiles{P50: 4, P99: 20}},
		}
	}
	vs := phase(PhaseVirtualServiceEdit, 20)
	r := &Report{Mesh: DefaultOptions().Spec(), PodsPerCluster: 300, Proxies: 100, Delta: true,
		Churn: phase(PhaseEndpointChurn, 1500), VirtualServices: &vs}
	var b strings.Builder
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| endpoint-churn | 1500 | 50 | 49.5 | 4.0 ms / 20.0 ms | 10/10 | 0 | 100.0 ms | 200.0 ms | 1.50 s | 2.00 s | 3.00 | 0.10 | 200.0 MiB |",
		"| virtual-service-edit | 20 |",
		"100 simulated sidecars over delta xDS",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteLog(t *testing.T) {
	l := newWriteLog(10)
	l.done(5*time.Millisecond, nil)
	l.done(0, errors.New("conflict"))
	l.late(30 * time.Millisecond)
	w := l.result()
	if w.Made != 2 || w.Failed != 1 || w.FirstError != "conflict" || w.Write.Max != 5 || w.Late != 30*time.Millisecond || w.Achieved <= 0 {
		t.Errorf("writes %+v", w)
	}
}
