package proxystatus_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
	"github.com/isthmus-mesh/isthmus/xds/server"
)

// opMesh is two `isthmus serve` replicas of one configuration, with Envoy
// sidecars connected to them and an OTLP receiver replica A sends its
// traces to. The sidecar of "ratings-v1" cannot bind its listener (the
// test holds its address), so its Envoy rejects LDS.
type opMesh struct {
	bin      string
	dir      string
	logDir   string
	replicas map[string]*localmesh.Isthmus // by replica name
	envoys   map[string]*localmesh.Envoy   // by pod name
	receiver *otlpReceiver
}

const (
	replicaA = "isthmus-test-a"
	replicaB = "isthmus-test-b"
)

// syncedPods are served by replica A, nackedPod by replica B.
var (
	syncedPods = []string{"productpage-v1", "reviews-v1"}
	nackedPod  = "ratings-v1"
)

func startOpMesh(t *testing.T) *opMesh {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := &opMesh{dir: t.TempDir(), logDir: t.TempDir(), replicas: map[string]*localmesh.Isthmus{},
		envoys: map[string]*localmesh.Envoy{}, receiver: startOTLPReceiver(t)}
	var err error
	if m.bin, err = localmesh.BuildIsthmus(m.logDir); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, m.dir, "reviews.yaml", serviceEntry("reviews", 19081))
	writeConfig(t, m.dir, "reviews-routing.yaml", reviewsRouting)
	held := m.writeSidecars(t)
	t.Cleanup(func() { held.Close() })
	m.startReplica(ctx, t, replicaA, "--otel-endpoint", m.receiver.addr)
	m.startReplica(ctx, t, replicaB)
	for _, pod := range syncedPods {
		m.startSidecar(ctx, t, replicaA, pod, localmesh.StartSidecar)
	}
	m.startSidecar(ctx, t, replicaB, nackedPod, localmesh.StartRefusedSidecar)
	return m
}

func (m *opMesh) startReplica(ctx context.Context, t *testing.T, name string, args ...string) {
	t.Helper()
	logDir := filepath.Join(m.logDir, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	is, err := localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: m.bin, ConfigDir: m.dir, LogDir: logDir,
		ExtraArgs: append([]string{"--replica-name", name, "--debounce", "20ms"}, args...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	m.replicas[name] = is
}

type sidecarStarter func(context.Context, *localmesh.Isthmus, string, localmesh.Node, string) (*localmesh.Envoy, error)

func (m *opMesh) startSidecar(ctx context.Context, t *testing.T, replica, pod string, start sidecarStarter) {
	t.Helper()
	node := localmesh.SidecarNode(pod, "default", "127.0.0.1", map[string]string{"app": pod}, pod == "reviews-v1")
	node.Meta["CLUSTER_ID"] = "Kubernetes"
	e, err := start(ctx, m.replicas[replica], pod, node, m.logDir)
	if err != nil {
		t.Fatalf("%v\n%s", err, m.replicas[replica].LogTail(30))
	}
	t.Cleanup(e.Close)
	m.envoys[pod] = e
}

// writeSidecars gives each pod a Sidecar whose egress listener binds port
// 9080 of a loopback address of its own, and returns a listener holding
// the nacked pod's.
func (m *opMesh) writeSidecars(t *testing.T) net.Listener {
	t.Helper()
	var held net.Listener
	for _, pod := range append(slices.Clone(syncedPods), nackedPod) {
		ip, err := localmesh.RandomLoopbackIP(9080)
		if err != nil {
			t.Fatal(err)
		}
		if pod == nackedPod {
			if held, err = net.Listen("tcp", net.JoinHostPort(ip, "9080")); err != nil {
				t.Fatal(err)
			}
		}
		writeConfig(t, m.dir, "sidecar-"+pod+".yaml", sidecar(pod, ip))
	}
	return held
}

func sidecar(pod, ip string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: %[1]s
  namespace: default
spec:
  workloadSelector:
    labels: {app: %[1]s}
  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    bind: %[2]s
    captureMode: NONE
    hosts: ["./*"]
`, pod, ip)
}

func serviceEntry(name string, port int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %[1]s
  namespace: default
spec:
  hosts: [%[1]s.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  endpoints:
  - address: 127.0.0.1
    ports: {http: %[2]d}
`, name, port)
}

func writeConfig(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := localmesh.WriteFileAtomic(dir, name, []byte(body)); err != nil {
		t.Fatal(err)
	}
}

// proxyStatus runs `isthmus proxy-status` against both replicas and
// returns its output (stdout and stderr).
func (m *opMesh) proxyStatus(t *testing.T, args ...string) string {
	t.Helper()
	out, err := m.run(append(m.serverFlags(), args...)...)
	if err != nil {
		t.Fatalf("isthmus proxy-status %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (m *opMesh) serverFlags() []string {
	return []string{"--server", "http://" + m.replicas[replicaA].MonitoringAddr,
		"--server", "http://" + m.replicas[replicaB].MonitoringAddr}
}

func (m *opMesh) run(args ...string) (string, error) {
	out, err := exec.Command(m.bin, append([]string{"proxy-status"}, args...)...).CombinedOutput()
	return string(out), err
}

// eventually retries check until it returns "" or 30 s pass.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		problem := check()
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(problem)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOperate runs proxy-status, the istioctl debug types and the push
// traces against two replicas serving three real Envoys.
func TestOperate(t *testing.T) {
	m := startOpMesh(t)
	t.Run("table", m.testTable)
	t.Run("nack", m.testNACK)
	t.Run("unreachable replica", m.testUnreachableReplica)
	t.Run("diff", m.testDiff)
	t.Run("diff of a NACKed proxy", m.testNACKedDiff)
	t.Run("syncz", m.testSyncz)
	t.Run("config_dump", m.testDebugConfigDump)
	t.Run("traces", m.testTraces)
	t.Run("explain", m.testExplain)
}

// reviewsRouting splits /api/ of reviews 80/20 between subsets v1 and v2
// and sends the rest to v1.
const reviewsRouting = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - name: api
    match: [{uri: {prefix: /api/}}]
    route:
    - {destination: {host: reviews.default.svc.cluster.local, subset: v1}, weight: 80}
    - {destination: {host: reviews.default.svc.cluster.local, subset: v2}, weight: 20}
  - name: rest
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
`

// isthmus explain names, for a proxy's resources, the objects (and the
// file) behind them, and follows a request through what the proxy is
// served.
func (m *opMesh) testExplain(t *testing.T) {
	explain := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(m.bin, append(append([]string{"explain"}, m.serverFlags()...), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("isthmus explain %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := explain("productpage-v1.default", "outbound|9080|v2|reviews")
	for _, want := range []string{
		"  outbound|9080|v2|reviews.default.svc.cluster.local\n",
		"service default/reviews.default.svc.cluster.local (file)",
		"DestinationRule default/reviews (" + filepath.Join(m.dir, "reviews-routing.yaml") + "#1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain of the v2 cluster lacks %q:\n%s", want, out)
		}
	}
	out = explain("productpage-v1.default", "reviews", "--host", "reviews.default.svc.cluster.local", "--port", "9080", "--path", "/api/items")
	for _, want := range []string{
		"1. VirtualService default/reviews (" + filepath.Join(m.dir, "reviews-routing.yaml") + "#2)  <- its routes",
		"_9080, virtual host reviews.default.svc.cluster.local:9080, route api", // the bound egress listener's
		"-> outbound|9080|v1|reviews.default.svc.cluster.local  weight 80",
		"-> outbound|9080|v2|reviews.default.svc.cluster.local  weight 20",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain with a request lacks %q:\n%s", want, out)
		}
	}
	if out := explain("productpage-v1.default", "--host", "reviews.default.svc.cluster.local", "--port", "9080", "--path", "/x"); !strings.Contains(out, "route rest") {
		t.Errorf("a path outside /api/ does not take route rest:\n%s", out)
	}
}

// Every proxy of either replica has a row naming its cluster and replica,
// each type it was sent SYNCED; sidecars without mTLS get no secret: SDS
// NOT SENT.
func (m *opMesh) testTable(t *testing.T) {
	eventually(t, func() string {
		out := m.proxyStatus(t)
		for _, pod := range syncedPods {
			row := lineContaining(out, pod+".default")
			want := "Kubernetes  default    sidecar  SYNCED  SYNCED  SYNCED  SYNCED  NOT SENT  " + replicaA
			if !strings.Contains(row, want) {
				return fmt.Sprintf("row of %s is %q, want it to contain %q; table:\n%s", pod, row, want, out)
			}
		}
		return ""
	})
}

// The Envoy that cannot bind its listener rejects LDS: its row says
// NACKED, and Envoy's message follows the table.
func (m *opMesh) testNACK(t *testing.T) {
	eventually(t, func() string {
		out := m.proxyStatus(t)
		row := lineContaining(out, nackedPod+".default~")
		if !strings.Contains(row, "NACKED") || !strings.HasSuffix(strings.TrimSpace(row), replicaB) {
			return fmt.Sprintf("row of %s is %q, want LDS NACKED on %s; output:\n%s", nackedPod, row, replicaB, out)
		}
		if msg := lineContaining(out, " LDS NACKED (replica "+replicaB+"): "); !strings.Contains(msg, "9080") {
			return fmt.Sprintf("no LDS rejection naming the address; output:\n%s", out)
		}
		return ""
	})
}

// A replica that cannot be read is reported; the others' proxies are
// still listed. With none readable, the command fails.
func (m *opMesh) testUnreachableReplica(t *testing.T) {
	closed, err := localmesh.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.run("--server", "http://"+closed, "--server", "http://"+m.replicas[replicaA].MonitoringAddr)
	if err != nil {
		t.Fatalf("exit %v with one replica readable:\n%s", err, out)
	}
	if !strings.Contains(out, "replica not read: http://"+closed) || !strings.Contains(out, syncedPods[0]) {
		t.Errorf("want the unreachable replica reported and the other's proxies listed:\n%s", out)
	}
	if out, err := m.run("--server", "http://"+closed); err == nil {
		t.Errorf("exit 0 with no replica readable:\n%s", out)
	}
}

func lineContaining(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// What Isthmus serves a synced proxy is what its Envoy holds.
func (m *opMesh) testDiff(t *testing.T) {
	e := m.envoys["productpage-v1"]
	out := m.proxyStatus(t, "productpage-v1.default", "--envoy-admin", "http://"+e.AdminAddr)
	if !strings.Contains(out, "resources identical, 0 differ") || !strings.Contains(out, "SYNCED") {
		t.Fatalf("proxy-status PROXY does not show an identical config:\n%s", out)
	}
}

// The listener the NACKed Envoy could not take is served but missing in
// Envoy.
func (m *opMesh) testNACKedDiff(t *testing.T) {
	e := m.envoys[nackedPod]
	out := m.proxyStatus(t, nackedPod+".default", "--envoy-admin", "http://"+e.AdminAddr)
	if !regexp.MustCompile(`listener \S+_9080: served by Isthmus, missing in Envoy`).MatchString(out) {
		t.Fatalf("the diff does not show the rejected listener missing in Envoy:\n%s", out)
	}
}

// istioctl's syncz: one ClientConfig per proxy (the debug stream itself
// is none), with the states, the cluster in the node metadata and the
// replica in the control plane identifier.
func (m *opMesh) testSyncz(t *testing.T) {
	resp := m.debugRequest(t, server.TypeDebugSyncz)
	if !strings.Contains(resp.GetControlPlane().GetIdentifier(), `"ID":"`+replicaA+`"`) {
		t.Errorf("control plane identifier %q does not name the replica", resp.GetControlPlane().GetIdentifier())
	}
	if len(resp.Resources) != len(syncedPods) {
		t.Fatalf("syncz of %s lists %d proxies, want %d", replicaA, len(resp.Resources), len(syncedPods))
	}
	for _, a := range resp.Resources {
		var cc statusv3.ClientConfig
		if err := a.UnmarshalTo(&cc); err != nil {
			t.Fatal(err)
		}
		if got := cc.GetNode().GetMetadata().GetFields()["CLUSTER_ID"].GetStringValue(); got != "Kubernetes" {
			t.Errorf("%s: CLUSTER_ID %q", cc.GetNode().GetId(), got)
		}
		for _, x := range cc.GenericXdsConfigs {
			want := statusv3.ConfigStatus_SYNCED
			if strings.HasSuffix(x.TypeUrl, "Secret") {
				want = statusv3.ConfigStatus_NOT_SENT
			}
			if x.ConfigStatus != want {
				t.Errorf("%s %s: %v, want %v", cc.GetNode().GetId(), x.TypeUrl, x.ConfigStatus, want)
			}
		}
	}
	if out := m.proxyStatus(t); strings.Count(out, "  sidecar  ") != len(syncedPods)+1 {
		t.Errorf("the debug stream counts as a proxy:\n%s", out)
	}
}

// istioctl's config_dump: the named proxy's resources, as Envoy's
// ConfigDump sections.
func (m *opMesh) testDebugConfigDump(t *testing.T) {
	id := "sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local"
	resp := m.debugRequest(t, server.TypeDebugConfigDump, id)
	var clusters adminv3.ClustersConfigDump
	found := false
	for _, a := range resp.Resources {
		if a.UnmarshalTo(&clusters) == nil {
			found = true
		}
	}
	if !found || len(clusters.DynamicActiveClusters) == 0 {
		t.Fatalf("config_dump of %s has no clusters: %d configs", id, len(resp.Resources))
	}
}

// debugRequest asks the replica's ADS port for a debug type as istioctl
// does (a sidecar-like node of its own, metadata GENERATOR=event).
func (m *opMesh) debugRequest(t *testing.T, typeURL string, names ...string) *discoveryv3.DiscoveryResponse {
	t.Helper()
	conn, err := grpc.NewClient(m.replicas[replicaA].XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := structpb.NewStruct(map[string]any{"GENERATOR": "event", "NAMESPACE": "istio-system"})
	node := &corev3.Node{Id: "sidecar~0.0.0.0~istioctl.istio-system~istio-system.svc.cluster.local", Metadata: meta}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("%s: %v", typeURL, err)
	}
	return resp
}

// A configuration change is traced as one push: a root span and its
// phases as children, sends and acknowledgements included.
func (m *opMesh) testTraces(t *testing.T) {
	writeConfig(t, m.dir, "details.yaml", serviceEntry("details", 19101))
	want := []string{"assemble", "debounce", "index", "translate", "prepare", "send CDS", "send EDS", "ack"}
	eventually(t, func() string {
		for _, tree := range m.receiver.pushes() {
			if missing := tree.missing(want); len(missing) == 0 {
				return ""
			}
		}
		return fmt.Sprintf("no push trace with children %v; got %v", want, m.receiver.pushes())
	})
}

// otlpReceiver is a minimal OTLP gRPC trace receiver: it keeps every span
// it is sent.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	addr  string
	mu    sync.Mutex
	spans []*tracev1.Span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	addr, err := localmesh.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{addr: lis.Addr().String()}
	g := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(g, r)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return r
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// pushTree is one push span and the names of its direct children.
type pushTree struct {
	children map[string]bool
}

func (p pushTree) missing(names []string) []string {
	var out []string
	for _, n := range names {
		if !p.children[n] {
			out = append(out, n)
		}
	}
	return out
}

func (p pushTree) String() string {
	var names []string
	for n := range p.children {
		names = append(names, n)
	}
	return fmt.Sprint(names)
}

// pushes are the push spans received, each with its children: spans of
// the same trace whose parent is the push span.
func (r *otlpReceiver) pushes() []pushTree {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pushTree
	for _, root := range r.spans {
		if root.Name != "isthmus.push" || len(root.ParentSpanId) != 0 {
			continue
		}
		tree := pushTree{children: map[string]bool{}}
		for _, s := range r.spans {
			if string(s.TraceId) == string(root.TraceId) && string(s.ParentSpanId) == string(root.SpanId) {
				tree.children[s.Name] = true
			}
		}
		out = append(out, tree)
	}
	return out
}
