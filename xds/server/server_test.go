package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// endpointIPs lists the addresses in the reviews load assignment among
// resources.
func endpointIPs(t *testing.T, resources []*anypb.Any) []string {
	t.Helper()
	return clusterEndpoints(t, resources, reviewsCluster)
}

func routeTimeouts(t *testing.T, resources []*anypb.Any) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, a := range resources {
		rc := &routev3.RouteConfiguration{}
		if err := a.UnmarshalTo(rc); err != nil {
			t.Fatal(err)
		}
		out = append(out, rc.VirtualHosts[0].Routes[0].GetRoute().GetTimeout().AsDuration())
	}
	return out
}

func deltaAnys(resp *discoveryv3.DeltaDiscoveryResponse) []*anypb.Any {
	var out []*anypb.Any
	for _, r := range resp.Resources {
		out = append(out, r.Resource)
	}
	return out
}

func wantType(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("response of type %s, want %s", got, want)
	}
}

func pushes(h *harness, label string) float64 {
	return metricValue(h.t, h.server.metrics.pushes.WithLabelValues(label))
}

func TestSotWProxyReceivesItsResources(t *testing.T) {
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()

	if got := edsNames(t, c.last[resource.ClusterType].Resources); !slices.Equal(got, []string{
		"outbound|9080||reviews.default.svc.cluster.local", "outbound|9090||ratings.default.svc.cluster.local",
	}) {
		t.Errorf("clusters %v", got)
	}
	if got := endpointIPs(t, c.last[resource.EndpointType].Resources); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Errorf("reviews endpoints %v, want [10.1.0.1]", got)
	}
	if got := rdsNames(t, c.last[resource.ListenerType].Resources); !slices.Equal(got, []string{"9080", "9090"}) {
		t.Errorf("listeners take routes %v, want [9080 9090]", got)
	}
	if n := len(c.last[resource.RouteType].Resources); n != 2 {
		t.Errorf("%d route configurations, want 2", n)
	}
}

// After an endpoint-only change a SotW proxy is sent EDS and nothing else.
// A later route-only change is the marker: if the endpoint change had
// re-sent CDS, LDS or RDS, those responses would arrive before the marker's.
func TestSotWEndpointChangeSendsOnlyEDS(t *testing.T) {
	h, node, c := syncedSotwClient(t)
	before := map[string]string{}
	for typeURL, resp := range c.last {
		before[typeURL] = resp.VersionInfo
	}

	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.1", "10.1.0.2"}}.snapshot())
	eds := c.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if got := endpointIPs(t, eds.Resources); !slices.Equal(got, []string{"10.1.0.1", "10.1.0.2"}) {
		t.Fatalf("reviews endpoints %v after the change", got)
	}
	if eds.VersionInfo == before[resource.EndpointType] {
		t.Fatalf("EDS re-sent with its old version %s", eds.VersionInfo)
	}
	c.accept(eds)
	h.waitAcked(node.Id)

	h.server.Update(world{version: 3, endpoints: []string{"10.1.0.1", "10.1.0.2"}, timeout: 5 * time.Second}.snapshot())
	rds := c.next()
	wantType(t, rds.TypeUrl, resource.RouteType)
	if got := routeTimeouts(t, rds.Resources); !slices.Equal(got, []time.Duration{5 * time.Second, 5 * time.Second}) {
		t.Fatalf("route timeouts %v, want the marker's 5s", got)
	}
	if got := pushes(h, "cds") + pushes(h, "lds"); got != 2 {
		t.Errorf("%v CDS+LDS versions set, want 2 (the initial ones)", got)
	}
}

func TestDeltaEndpointChangeSendsOnlyTheChangedEndpoints(t *testing.T) {
	h, node, c := syncedDeltaClient(t)
	if got := len(c.resources[resource.EndpointType]); got != 2 {
		t.Fatalf("%d load assignments, want 2", got)
	}

	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.2"}}.snapshot())
	eds := c.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if len(eds.Resources) != 1 || eds.Resources[0].Name != reviewsCluster || len(eds.RemovedResources) != 0 {
		t.Fatalf("delta EDS sent %d resources, removed %v; want only %s", len(eds.Resources), eds.RemovedResources, reviewsCluster)
	}
	if got := endpointIPs(t, deltaAnys(eds)); !slices.Equal(got, []string{"10.1.0.2"}) {
		t.Fatalf("reviews endpoints %v, want [10.1.0.2]", got)
	}
	c.accept(eds)
	h.waitAcked(node.Id)

	h.server.Update(world{version: 3, endpoints: []string{"10.1.0.2"}, timeout: time.Second}.snapshot())
	rds := c.next()
	wantType(t, rds.TypeUrl, resource.RouteType)
	if got := routeTimeouts(t, deltaAnys(rds)); !slices.Equal(got, []time.Duration{time.Second, time.Second}) {
		t.Fatalf("route timeouts %v, want the marker's 1s", got)
	}
}

func TestNACKIsCountedByType(t *testing.T) {
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	sotw := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	sotw.sync()
	delta := newDeltaClient(t, h.dial(), sidecarNode(t, "app-2"))
	delta.sync()
	h.waitAcked(sidecarNode(t, "app-1").Id)
	h.waitAcked(sidecarNode(t, "app-2").Id)

	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.9"}}.snapshot())
	sotwEDS := sotw.next()
	wantType(t, sotwEDS.TypeUrl, resource.EndpointType)
	sotw.nack(sotwEDS, "malformed IP address: 10.1.0.9")
	deltaEDS := delta.next()
	wantType(t, deltaEDS.TypeUrl, resource.EndpointType)
	delta.nack(deltaEDS, "rejected by test")

	eds := h.server.metrics.nacks.WithLabelValues("eds")
	eventually(t, "two EDS NACKs counted", func() bool { return metricValue(t, eds) == 2 })
	if got := metricValue(t, h.server.metrics.nacks.WithLabelValues("cds")); got != 0 {
		t.Errorf("%v CDS NACKs counted, want 0", got)
	}
	_, body := h.get("/debug/proxies")
	if !strings.Contains(body, "malformed IP address: 10.1.0.9") {
		t.Errorf("/debug/proxies does not show the rejection:\n%s", body)
	}
	var proxies []ProxyStatus
	if err := json.Unmarshal([]byte(body), &proxies); err != nil {
		t.Fatal(err)
	}
	for _, p := range proxies {
		if eds, cds := p.Types["eds"], p.Types["cds"]; eds.State != StateNacked || cds.State != StateSynced {
			t.Errorf("%s: EDS %s, CDS %s; want NACKED and SYNCED", p.ID, eds.State, cds.State)
		}
	}
}

// A rejection of a type the server does not serve is counted as "other":
// the type URL is the client's to choose, and must not become a metric
// series of its own.
func TestNACKOfAnUnservedTypeIsCountedAsOther(t *testing.T) {
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()
	bogus := &discoveryv3.DiscoveryResponse{TypeUrl: "type.googleapis.com/bogus.Type", Nonce: "1"}
	c.nack(bogus, "rejected by test")
	other := h.server.metrics.nacks.WithLabelValues(otherType)
	eventually(t, "the NACK to be counted", func() bool { return metricValue(t, other) == 1 })
	if _, metrics := h.get("/metrics"); strings.Contains(metrics, "bogus") {
		t.Errorf("/metrics names the client's type URL:\n%s", metrics)
	}
}

// failingAt wraps meshTranslate so that translating snapshot version v
// goes wrong with broken.
func failingAt(v uint64, broken func(*translate.Resources) (*translate.Resources, error)) TranslateFunc {
	return func(idx *translate.Index, p *model.Proxy) (*translate.Resources, error) {
		res, err := meshTranslate(idx, p)
		if err != nil || idx.Snapshot.Version != v {
			return res, err
		}
		return broken(res)
	}
}

func TestFailedTranslationKeepsPreviousResources(t *testing.T) {
	cases := map[string]struct {
		reason string
		broken func(*translate.Resources) (*translate.Resources, error)
	}{
		"translation error": {reasonTranslate, func(*translate.Resources) (*translate.Resources, error) {
			return nil, errors.New("translation of app-1 failed")
		}},
		"translation panic": {reasonTranslate, func(*translate.Resources) (*translate.Resources, error) {
			panic("bug in translation")
		}},
		"invalid cluster": {reasonInvalid, func(r *translate.Resources) (*translate.Resources, error) {
			r.Clusters[0].ConnectTimeout = durationpb.New(-time.Second)
			return r, nil
		}},
		"duplicate listener": {reasonInvalid, func(r *translate.Resources) (*translate.Resources, error) {
			r.Listeners = append(r.Listeners, r.Listeners[0])
			return r, nil
		}},
		"cluster without endpoints": {reasonInconsistent, func(r *translate.Resources) (*translate.Resources, error) {
			r.Clusters = append(r.Clusters, edsCluster("outbound|80||missing.default.svc.cluster.local"))
			return r, nil
		}},
		"listener without route": {reasonInconsistent, func(r *translate.Resources) (*translate.Resources, error) {
			r.Routes = r.Routes[1:]
			return r, nil
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := startServer(t, failingAt(2, tc.broken))
			node := sidecarNode(t, "app-1")
			h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
			c := newSotwClient(t, h.dial(), node)
			c.sync()
			h.waitAcked(node.Id)

			h.server.Update(world{version: 2, endpoints: []string{"10.1.0.2"}}.snapshot())
			failures := h.server.metrics.translateErrors.WithLabelValues(tc.reason)
			eventually(t, "the failure to be counted", func() bool { return metricValue(t, failures) == 1 })
			served := h.server.proxyByID(node.Id).servedResources()
			if got := endpointIPs(t, anys(t, served.resources.Endpoints)); !slices.Equal(got, []string{"10.1.0.1"}) {
				t.Fatalf("after the failure the proxy is served endpoints %v, want the previous [10.1.0.1]", got)
			}

			// The next good snapshot is the next thing the proxy hears of.
			h.server.Update(world{version: 3, endpoints: []string{"10.1.0.3"}}.snapshot())
			eds := c.next()
			wantType(t, eds.TypeUrl, resource.EndpointType)
			if got := endpointIPs(t, eds.Resources); !slices.Equal(got, []string{"10.1.0.3"}) {
				t.Fatalf("reviews endpoints %v, want [10.1.0.3]", got)
			}
		})
	}
}

func anys[T proto.Message](t *testing.T, list []T) []*anypb.Any {
	t.Helper()
	var out []*anypb.Any
	for _, m := range list {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestProxyConnectedBeforeFirstSnapshotGetsIt(t *testing.T) {
	h := startServer(t, meshTranslate)
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.subscribe(resource.ClusterType, nil)
	c.subscribe(resource.ListenerType, nil)
	eventually(t, "the proxy to be connected", func() bool { return h.server.proxyByID(sidecarNode(t, "app-1").Id) != nil })

	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	for !c.hasAll() {
		c.accept(c.next())
	}
	if got := endpointIPs(t, c.last[resource.EndpointType].Resources); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Errorf("reviews endpoints %v", got)
	}
}

func TestBadNodeIDIsRejected(t *testing.T) {
	h := startServer(t, meshTranslate)
	node := sidecarNode(t, "app-1")
	node.Id = "app-1"
	c := newSotwClient(t, h.dial(), node)
	c.subscribe(resource.ClusterType, nil)
	select {
	case err := <-c.ended:
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"app-1"`) {
			t.Fatalf("stream ended with %v, want InvalidArgument naming the node id", err)
		}
	case resp := <-c.recv:
		t.Fatalf("a proxy with a bad node id was answered: %v", resp)
	case <-time.After(waitLimit):
		t.Fatal("stream not ended")
	}
	if got := metricValue(t, h.server.metrics.connected); got != 0 {
		t.Errorf("%v proxies connected, want 0", got)
	}
}

func TestStreamsAreCountedPerProxy(t *testing.T) {
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	node := sidecarNode(t, "app-1")
	sotw := newSotwClient(t, h.dial(), node)
	sotw.sync()
	delta := newDeltaClient(t, h.dial(), node)
	delta.sync()
	connected := h.server.metrics.connected
	if got := metricValue(t, connected); got != 1 {
		t.Fatalf("%v proxies connected, want 1", got)
	}
	sotw.close()
	eventually(t, "one stream to remain", func() bool { return h.server.proxyStatus(h.server.proxyByID(node.Id)).Streams == 1 })
	delta.close()
	eventually(t, "the proxy to be forgotten", func() bool { return metricValue(t, connected) == 0 })
	if _, body := h.get("/debug/proxies"); strings.TrimSpace(body) != "[]" {
		t.Errorf("/debug/proxies after disconnect: %s", body)
	}
}

func TestReadyOnceConfigPushedAndServing(t *testing.T) {
	h := startServer(t, meshTranslate)
	if code, _ := h.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d, want 200", code)
	}
	if code, body := h.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before any config: %d %q, want 503", code, body)
	}
	h.server.Update(world{version: 1}.snapshot())
	eventually(t, "/readyz to return 200", func() bool {
		code, _ := h.get("/readyz")
		return code == http.StatusOK
	})
	_, metrics := h.get("/metrics")
	for _, name := range []string{"isthmus_snapshot_version 1", "isthmus_xds_push_duration_seconds_count 1", "isthmus_config_errors 0"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
}

func TestNotReadyWhileNotServing(t *testing.T) {
	s := New(Options{Debounce: time.Millisecond, Translate: meshTranslate, Logger: testLogger(t)})
	defer s.Stop()
	s.Update(world{version: 1}.snapshot())
	eventually(t, "the snapshot to be pushed", s.pushed.Load)
	if s.Ready() {
		t.Error("ready without serving gRPC")
	}
}

func TestDebugEndpoints(t *testing.T) {
	h, node, c := syncedSotwClient(t)

	_, body := h.get("/debug/proxies")
	var proxies []ProxyStatus
	if err := json.Unmarshal([]byte(body), &proxies); err != nil {
		t.Fatalf("/debug/proxies: %v\n%s", err, body)
	}
	if len(proxies) != 1 || proxies[0].ID != node.Id || proxies[0].Namespace != "default" {
		t.Fatalf("/debug/proxies: %s", body)
	}
	if cds := proxies[0].Types["cds"]; cds.Served == "" || cds.Served != c.last[resource.ClusterType].VersionInfo {
		t.Errorf("CDS status %+v, proxy holds version %s", cds, c.last[resource.ClusterType].VersionInfo)
	}

	code, body := h.get("/debug/config_dump?proxy=" + node.Id)
	if code != http.StatusOK {
		t.Fatalf("config_dump: %d %s", code, body)
	}
	var dump struct {
		Versions  map[string]string `json:"versions"`
		Endpoints []json.RawMessage `json:"endpoints"`
		Listeners []json.RawMessage `json:"listeners"`
	}
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		t.Fatalf("config_dump: %v", err)
	}
	if len(dump.Listeners) != 2 || len(dump.Endpoints) != 2 || dump.Versions["eds"] != c.last[resource.EndpointType].VersionInfo {
		t.Errorf("config_dump: %s", body)
	}
	if !strings.Contains(body, `"10.1.0.1"`) || !strings.Contains(body, reviewsCluster) {
		t.Errorf("config_dump lacks the reviews cluster or endpoint:\n%s", body)
	}
	if code, _ := h.get("/debug/config_dump?proxy=sidecar~10.9.9.9~nobody.default~default.svc.cluster.local"); code != http.StatusNotFound {
		t.Errorf("config_dump of an unknown proxy: %d, want 404", code)
	}
}

func TestStopEndsStreamsAndServe(t *testing.T) {
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()
	h.server.Stop()
	select {
	case <-c.ended:
	case <-time.After(waitLimit):
		t.Fatal("stream still open after Stop")
	}
	select {
	case err := <-h.served:
		if err != nil {
			t.Errorf("Serve returned %v after Stop, want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Serve still running after Stop")
	}
}

func TestProfilesServedOnTheMonitoringPort(t *testing.T) {
	h := startServer(t, meshTranslate)
	code, body := h.get("/debug/pprof/heap?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("/debug/pprof/heap: %d %.80q", code, body)
	}
}
