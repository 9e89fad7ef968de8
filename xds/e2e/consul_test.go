package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/isthmus-mesh/isthmus/deploy/consulagent"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
	"github.com/isthmus-mesh/isthmus/discovery/statefile"
)

// The Consul scenario: service web registered in a real Consul agent, four
// instances on port consulPort (v1a, v1b, v1c tagged version=v1, v2
// tagged version=v2), a file service ratings and a Kubernetes service
// details (namespace default of a real API server), all reached through one
// sidecar of namespace default.
const (
	consulHost  = "web.service.consul"
	consulPort  = 9080
	ratingsHost = "ratings.default.svc.cluster.local"
	detailsHost = "details.default.svc.cluster.local"
	// edsLeaveWithin is how soon an instance deregistered or failing its
	// check must leave Envoy's endpoints.
	edsLeaveWithin = time.Second
)

// consulMesh is the scenario's Consul, Isthmus, upstreams and client.
type consulMesh struct {
	consul    *consulagent.Agent
	client    *api.Client
	isthmus   *localmesh.Isthmus
	instances map[string]*localmesh.Upstream // by instance ID
	ratings   *localmesh.Upstream
	details   *localmesh.Upstream // the Kubernetes service's pod
	proxy     *proxy
}

// TestConsulServices: a Consul service's tags drive an 80/20 VirtualService
// split observed on real requests; an instance deregistered, or failing its
// TTL check, leaves Envoy's EDS within edsLeaveWithin; a file service is
// reached through the same sidecar, and so is a Kubernetes service; with
// Consul stopped the endpoints are
// kept, across a restart of Isthmus too, and traffic still flows.
func TestConsulServices(t *testing.T) {
	t.Parallel()
	m := startConsulMesh(t)
	p := m.proxy
	waitReply(t, m.proxy, consulHost, "the route", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream != "" })
	counts, err := p.client.Tally(t.Context(), 300, consulHost, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := share(counts, "web-v1a") + share(counts, "web-v1b") + share(counts, "web-v1c")
	if v1 < 0.68 || v1 > 0.92 || share(counts, "web-v2") < 0.08 {
		t.Errorf("replies %v, want about 80%% v1 and 20%% v2", counts)
	}
	if r := getReply(t, m.proxy, ratingsHost); r.Upstream != "ratings" {
		t.Errorf("the file service from the same sidecar: reply %d from %q, want ratings", r.Status, r.Upstream)
	}
	waitReply(t, m.proxy, detailsHost, "the route", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream == "details" })

	if err := m.client.Agent().ServiceDeregister("web-v1b"); err != nil {
		t.Fatal(err)
	}
	m.checkLeavesEDS(t, "web-v1b", "deregistered")
	if err := m.client.Agent().UpdateTTL("service:web-v1c", "failing", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	m.checkLeavesEDS(t, "web-v1c", "failing its TTL check")
	m.checkOnly(t, "after the removals", "web-v1a", "web-v2")

	m.consul.Stop()
	waitMetric(t, m.isthmus, `isthmus_cluster_synced{cluster="dc1"}`, 0)
	m.checkOnly(t, "with Consul stopped", "web-v1a", "web-v2")
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	// The state file is written at most once per statefile.WriteInterval:
	// a crash sooner after a change would restart on the catalog before it.
	time.Sleep(statefile.WriteInterval + 200*time.Millisecond)
	if err := m.isthmus.KillAndRestart(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the sidecar to reconnect", func() bool {
		stats, err := p.envoy.Stats(t.Context())
		return err == nil && stats["cluster.xds-grpc.upstream_cx_total"] >= 2 && stats["control_plane.connected_state"] == 1
	})
	time.Sleep(time.Second) // a push after the reconnection would have emptied the endpoints by now
	m.checkOnly(t, "after Isthmus restarted with Consul stopped", "web-v1a", "web-v2")
}

// startConsulMesh starts Consul with web's instances, Isthmus on it and a
// config directory, and the client sidecar.
func startConsulMesh(t *testing.T) *consulMesh {
	t.Helper()
	bin := theMesh(t).isthmus.Bin // built before the timeouts below start
	m := &consulMesh{consul: consulagent.StartT(t, consulagent.Options{}), instances: map[string]*localmesh.Upstream{}}
	var err error
	if m.client, err = api.NewClient(&api.Config{Address: m.consul.Addr}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"web-v1a", "web-v1b", "web-v1c", "web-v2"} {
		u := startLoopbackUpstream(t, id)
		m.instances[id] = u
		version := strings.TrimRight(strings.TrimPrefix(id, "web-"), "abc")
		m.register(t, id, u, version)
	}
	m.ratings = startLoopbackUpstream(t, "ratings")
	kube := kubeharness.StartT(t, kubeharness.Options{Name: "consul-kube"})
	m.details = startKubeUpstream(t, "details")
	declareKubeService(t, kube, "details", m.details)
	clientIP, err := localmesh.RandomLoopbackIP(consulPort)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := localmesh.WriteFileAtomic(dir, "consul.yaml", []byte(consulMeshYAML(clientIP, m.ratings))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	logDir := t.TempDir()
	m.isthmus, err = localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: bin, ConfigDir: dir, LogDir: logDir,
		ExtraArgs: []string{"--consul", m.consul.Addr, "--kubeconfig", "kube=" + kube.Kubeconfig}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("isthmus log:\n%s", m.isthmus.LogTail(40))
		}
		m.isthmus.Close()
	})
	m.proxy = m.startClient(ctx, t, clientIP)
	return m
}

func startLoopbackUpstream(t *testing.T, name string) *localmesh.Upstream {
	t.Helper()
	ip, err := localmesh.RandomLoopbackIP(consulPort)
	if err != nil {
		t.Fatal(err)
	}
	u, err := localmesh.StartUpstream(name, net.JoinHostPort(ip, strconv.Itoa(consulPort)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// startKubeUpstream starts a pod of name at an address of the loopback
// interface outside 127.0.0.0/8, which API servers refuse in
// EndpointSlices.
func startKubeUpstream(t *testing.T, name string) *localmesh.Upstream {
	t.Helper()
	ip := fmt.Sprintf("10.79.%d.%d", os.Getpid()%250, 10+int(kubeMeshes.Add(1)))
	remove, err := localmesh.AddLoopbackAddress(ip)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(); err != nil {
			t.Error(err)
		}
	})
	u, err := localmesh.StartUpstream(name, net.JoinHostPort(ip, strconv.Itoa(kubeTargetPort)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// declareKubeService creates in namespace default, as the controllers
// would, Service name on port consulPort and the EndpointSlice listing pod.
func declareKubeService(t *testing.T, c *kubeharness.Cluster, name string, pod *localmesh.Upstream) {
	t.Helper()
	ctx := t.Context()
	must(t, "service", create(ctx, c.Client.CoreV1().Services("default").Create, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{
			Name: "http", Port: consulPort, TargetPort: intstr.FromInt32(kubeTargetPort), Protocol: corev1.ProtocolTCP}}},
	}))
	must(t, "endpoint slice", create(ctx, c.Client.DiscoveryV1().EndpointSlices("default").Create, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(kubeTargetPort)), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{pod.IP()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}},
	}))
}

// register adds instance id of web at u, tagged version=version, with a
// passing TTL check service:ID.
func (m *consulMesh) register(t *testing.T, id string, u *localmesh.Upstream, version string) {
	t.Helper()
	err := m.client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: "web", Address: u.IP(), Port: u.Port(), Tags: []string{"version=" + version}, Meta: map[string]string{"protocol": "http"},
		Check: &api.AgentServiceCheck{CheckID: "service:" + id, TTL: "10m", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
}

// consulMeshYAML routes web 80/20 between its v1 and v2 tags, declares the
// file service ratings, and gives the client an egress listener on
// clientIP.
func consulMeshYAML(clientIP string, ratings *localmesh.Upstream) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: %[1]s
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [%[1]s]
  http:
  - route:
    - {destination: {host: %[1]s, subset: v1}, weight: 80}
    - {destination: {host: %[1]s, subset: v2}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [%[2]s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: %[3]d, name: http, protocol: HTTP}]
  endpoints: [{address: %[4]s, ports: {http: %[5]d}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: consul-client, namespace: default}
spec:
  workloadSelector: {labels: {app: consul-client}}
  egress:
  - port: {number: %[3]d, protocol: HTTP, name: http}
    bind: %[6]s
    captureMode: NONE
    hosts: ["*/*"]
`, consulHost, ratingsHost, consulPort, ratings.IP(), ratings.Port(), clientIP)
}

// startClient starts the sidecar of namespace default the scenario sends
// its requests through.
func (m *consulMesh) startClient(ctx context.Context, t *testing.T, ip string) *proxy {
	t.Helper()
	name := "consul-client"
	node := localmesh.SidecarNode(name, "default", ip, map[string]string{"app": name}, false)
	e, err := localmesh.StartSidecar(ctx, m.isthmus, name, node, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	t.Cleanup(func() { checkEnvoyAccepted(t, name, e) })
	addr := net.JoinHostPort(ip, strconv.Itoa(consulPort))
	if err := e.WaitListener(ctx, addr); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, m.isthmus.LogTail(30))
	}
	c, err := localmesh.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &proxy{name: name, bindIP: ip, envoy: e, client: c}
}

// checkLeavesEDS waits until the instance's address leaves the sidecar's
// endpoints and fails if that took longer than edsLeaveWithin.
func (m *consulMesh) checkLeavesEDS(t *testing.T, id, how string) {
	t.Helper()
	start := time.Now()
	addr := net.JoinHostPort(m.instances[id].IP(), strconv.Itoa(consulPort))
	waitUntil(t, id+" to leave EDS", func() bool {
		body, err := m.proxy.envoy.Admin(t.Context(), "/clusters")
		return err == nil && strings.Contains(string(body), consulHost) && !strings.Contains(string(body), "::"+addr+"::")
	})
	took := time.Since(start)
	t.Logf("instance %s left Envoy's endpoints %v after being %s", id, took.Round(time.Millisecond), how)
	if took > edsLeaveWithin {
		t.Errorf("instance %s %s: left EDS after %v, want within %v", id, how, took.Round(time.Millisecond), edsLeaveWithin)
	}
}

// checkOnly sends 100 requests and fails unless every one is answered by
// one of want.
func (m *consulMesh) checkOnly(t *testing.T, when string, want ...string) {
	t.Helper()
	counts, err := m.proxy.client.Tally(t.Context(), 100, consulHost, "/", nil)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	total := 0
	for _, name := range want {
		total += counts[name]
	}
	if total != 100 {
		t.Errorf("%s: replies %v, want only %v", when, counts, want)
	}
}
