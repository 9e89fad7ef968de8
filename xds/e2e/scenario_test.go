package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// applyTimeout bounds how long a scenario waits for its configuration to
// reach both Envoys.
const applyTimeout = 20 * time.Second

// scenario is one test's service: "NAME.default.svc.cluster.local" on port
// 9080, one upstream per version, and the config file NAME.yaml.
type scenario struct {
	m         *mesh
	name      string
	host      string
	versions  []string
	upstreams map[string]*localmesh.Upstream // by version
}

// newScenario starts the upstreams NAME-v1, NAME-v2 … of a new scenario and
// registers the end-of-test check that neither Envoy rejected an update.
func newScenario(t *testing.T, name string, versions ...string) *scenario {
	t.Helper()
	m := theMesh(t)
	name = uniqueName(name)
	s := &scenario{m: m, name: name, host: name + ".default.svc.cluster.local",
		versions: versions, upstreams: map[string]*localmesh.Upstream{}}
	t.Cleanup(func() { m.checkNoRejections(t) })
	for _, v := range versions {
		u, err := localmesh.StartUpstream(s.up(v), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		s.upstreams[v] = u
	}
	return s
}

// up is the name of the scenario's upstream of version v, as it reports
// itself in replies.
func (s *scenario) up(v string) string { return s.name + "-" + v }

var (
	namesMu   sync.Mutex
	namesUsed = map[string]int{}
)

// uniqueName gives a scenario run again in the same process (go test
// -count=N) its own service, so no configuration of an earlier run is
// mistaken for its own.
func uniqueName(name string) string {
	namesMu.Lock()
	defer namesMu.Unlock()
	namesUsed[name]++
	if n := namesUsed[name]; n > 1 {
		return fmt.Sprintf("%s%d", name, n)
	}
	return name
}

// apply writes the scenario's config file (YAML documents joined by ---).
func (s *scenario) apply(t *testing.T, docs ...string) time.Time {
	t.Helper()
	data := strings.Join(docs, "\n---\n")
	if err := localmesh.WriteFileAtomic(s.m.dir, s.name+".yaml", []byte(data)); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// serviceEntry declares the service with one inline endpoint per upstream,
// labelled with its version.
func (s *scenario) serviceEntry() string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %s
  namespace: default
spec:
  hosts:
  - %s
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: %d
    name: http
    protocol: HTTP
  endpoints:
`, s.name, s.host, servicePort)
	for _, v := range s.versions {
		fmt.Fprintf(&b, "  - address: 127.0.0.1\n    ports:\n      http: %d\n    labels:\n      version: %s\n", s.upstreams[v].Port(), v)
	}
	return b.String()
}

// workloadEntries declares the service through a workloadSelector and one
// WorkloadEntry per upstream, as the bundled example mesh does.
func (s *scenario) workloadEntries() []string {
	docs := []string{fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %[1]s
  namespace: default
spec:
  hosts:
  - %[2]s
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: %[3]d
    name: http
    protocol: HTTP
  workloadSelector:
    labels:
      app: %[1]s
`, s.name, s.host, servicePort)}
	for _, v := range s.versions {
		docs = append(docs, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: %[1]s-%[2]s
  namespace: default
spec:
  address: 127.0.0.1
  ports:
    http: %[3]d
  labels:
    app: %[1]s
    version: %[2]s
`, s.name, v, s.upstreams[v].Port()))
	}
	return docs
}

// destinationRule has one subset per version and, when trafficPolicy is not
// empty, that policy (YAML indented as a child of spec.trafficPolicy).
func (s *scenario) destinationRule(trafficPolicy string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  host: %s\n", s.name, s.host)
	if trafficPolicy != "" {
		b.WriteString("  trafficPolicy:\n" + indent(trafficPolicy, 4))
	}
	b.WriteString("  subsets:\n")
	for _, v := range s.versions {
		fmt.Fprintf(&b, "  - name: %s\n    labels:\n      version: %s\n", v, v)
	}
	return b.String()
}

// virtualService wraps http (the YAML list under spec.http, unindented) in
// a VirtualService for the scenario's host. "HOST" in http is replaced by
// the host.
func (s *scenario) virtualService(http string) string {
	http = strings.ReplaceAll(http, "HOST", s.host)
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  hosts:\n  - %s\n  http:\n%s",
		s.name, s.host, indent(http, 2))
}

func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(strings.TrimLeft(text, "\n"), "\n "), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// eachProxy runs f as a subtest for the state-of-the-world Envoy, then for
// the delta one, resetting the upstreams' records before each.
func (s *scenario) eachProxy(t *testing.T, f func(t *testing.T, p *proxy)) {
	for _, p := range s.m.proxies {
		t.Run(p.name, func(t *testing.T) {
			s.resetUpstreams()
			f(t, p)
		})
	}
}

func (s *scenario) resetUpstreams() {
	for _, u := range s.upstreams {
		u.Reset()
	}
}

// get sends one request for path to the scenario's host through p.
func (s *scenario) get(t *testing.T, p *proxy, path string, hdr http.Header) localmesh.Reply {
	t.Helper()
	r, err := p.client.Get(context.Background(), s.host, path, hdr)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return r
}

// tally sends n requests through p and counts replies per upstream.
func (s *scenario) tally(t *testing.T, p *proxy, n int, hdr http.Header) map[string]int {
	t.Helper()
	counts, err := p.client.Tally(context.Background(), n, s.host, "/", hdr)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return counts
}

// waitFor sends requests for path through p until ok accepts a reply, so a
// scenario starts once its configuration has reached the Envoy.
func (s *scenario) waitFor(t *testing.T, p *proxy, path string, hdr http.Header, ok func(localmesh.Reply) bool) {
	t.Helper()
	deadline := time.Now().Add(applyTimeout)
	var last localmesh.Reply
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = p.client.Get(context.Background(), s.host, path, hdr)
		if lastErr == nil && ok(last) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: configuration for %s not in effect after %v: last reply %d from %q (%v)\n%s",
		p.name, s.host, applyTimeout, last.Status, last.Upstream, lastErr, s.debugInfo(p))
}

// waitUpstream waits until the replies for path come from an upstream.
func (s *scenario) waitUpstream(t *testing.T, p *proxy, path string) {
	t.Helper()
	s.waitFor(t, p, path, nil, func(r localmesh.Reply) bool { return r.Upstream != "" })
}

// share is the fraction of counts answered by upstream name.
func share(counts map[string]int, name string) float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	return float64(counts[name]) / float64(total)
}

// debugInfo shows what p holds for the scenario's host: its virtual host,
// its clusters, and the recent Envoy and Isthmus logs.
func (s *scenario) debugInfo(p *proxy) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var b strings.Builder
	routes, err := p.envoy.ConfigDump(ctx, "resource=dynamic_route_configs")
	if err != nil {
		fmt.Fprintf(&b, "route config dump: %v\n", err)
	} else {
		fmt.Fprintf(&b, "virtual hosts of %s in %s's routes:\n%s\n", s.host, p.name, virtualHostsFor(routes, s.host))
	}
	query := "resource=dynamic_active_clusters&name_regex=" + url.QueryEscape(".*"+regexp.QuoteMeta(s.host))
	if clusters, err := p.envoy.ConfigDump(ctx, query); err != nil {
		fmt.Fprintf(&b, "cluster dump: %v\n", err)
	} else {
		fmt.Fprintf(&b, "clusters of %s:\n%s\n", s.host, clusters)
	}
	fmt.Fprintf(&b, "envoy %s log (%s):\n%s\n", p.name, p.envoy.LogPath(), p.envoy.LogTail(20))
	fmt.Fprintf(&b, "isthmus log (%s):\n%s\n", s.m.isthmus.LogPath(), s.m.isthmus.LogTail(20))
	return b.String()
}

// virtualHostsFor extracts, from a route config dump, the virtual hosts
// with host among their domains.
func virtualHostsFor(dump []byte, host string) string {
	var doc struct {
		Configs []struct {
			RouteConfig struct {
				Name         string `json:"name"`
				VirtualHosts []struct {
					Domains []string `json:"domains"`
				} `json:"virtual_hosts"`
			} `json:"route_config"`
		} `json:"configs"`
	}
	var raw struct {
		Configs []struct {
			RouteConfig struct {
				VirtualHosts []json.RawMessage `json:"virtual_hosts"`
			} `json:"route_config"`
		} `json:"configs"`
	}
	if json.Unmarshal(dump, &doc) != nil || json.Unmarshal(dump, &raw) != nil {
		return string(dump)
	}
	var out []string
	for i, c := range doc.Configs {
		for j, vh := range c.RouteConfig.VirtualHosts {
			if slices.Contains(vh.Domains, host) {
				out = append(out, fmt.Sprintf("route config %q: %s", c.RouteConfig.Name, raw.Configs[i].RouteConfig.VirtualHosts[j]))
			}
		}
	}
	if len(out) == 0 {
		return fmt.Sprintf("(none; %d route configs)", len(doc.Configs))
	}
	return strings.Join(out, "\n")
}

// checkNoRejections fails t if either Envoy has rejected an xDS update,
// warned of a deprecated option in one, or lost its connection to Isthmus.
func (m *mesh) checkNoRejections(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range m.proxies {
		if err := p.envoy.Running(); err != nil {
			t.Errorf("%s: %v", p.name, err)
			continue
		}
		stats, err := p.envoy.Stats(ctx)
		if err != nil {
			t.Errorf("%s: %v", p.name, err)
			continue
		}
		if rejected := stats.Matching(".update_rejected").NonZero(); len(rejected) > 0 {
			t.Errorf("%s rejected xDS updates:\n%s\nenvoy log:\n%s", p.name, rejected, p.envoy.LogGrep("rejected", "Rejected", "NACK", "error"))
		}
		if deprecated := p.envoy.LogGrep("Deprecated field", "deprecated option"); deprecated != "" {
			t.Errorf("%s warns of deprecated options in what Isthmus sent:\n%s", p.name, deprecated)
		}
		if stats["control_plane.connected_state"] != 1 {
			t.Errorf("%s: control_plane.connected_state = %d, want 1", p.name, stats["control_plane.connected_state"])
		}
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

// waitConfigErrors waits until Isthmus's isthmus_config_errors gauge (the
// number of configuration problems it currently reports) satisfies ok.
func (m *mesh) waitConfigErrors(t *testing.T, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(applyTimeout)
	var last float64
	for time.Now().Before(deadline) {
		metrics, err := m.isthmus.Metrics(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if last, err = metricValue(metrics, "isthmus_config_errors"); err != nil {
			t.Fatal(err)
		}
		if ok(last) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("isthmus_config_errors stayed at %v\nisthmus log:\n%s", last, m.isthmus.LogTail(20))
}

// metricValue reads an unlabelled sample from a Prometheus text exposition.
func metricValue(exposition, name string) (float64, error) {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not exported by isthmus", name)
}
