package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	clientnetworking "istio.io/client-go/pkg/apis/networking/v1"
	versioned "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// The Kubernetes scenario: reviews in namespace shop, versions v1 and v2 in
// cluster aws, v3 in cluster gcp, its pods at addresses on the loopback
// interface (API servers refuse 127.0.0.0/8 in EndpointSlices).
const (
	kubeNamespace   = "shop"
	kubeHost        = "reviews.shop.svc.cluster.local"
	kubeServicePort = 9080
	kubeTargetPort  = 8080
	// crdEditWithin is how soon an edited VirtualService custom resource
	// must be in effect in every Envoy.
	crdEditWithin = time.Second
)

// kubeMesh is the scenario's two API servers, its own Isthmus reading
// Istio's custom resources from aws and services from both, and one client
// sidecar per cluster.
type kubeMesh struct {
	aws, gcp *kubeharness.Cluster
	// remoteGCP: Isthmus learns of gcp from a remote secret, not a flag.
	remoteGCP bool
	istio     versioned.Interface // aws's Istio client
	isthmus   *localmesh.Isthmus
	pods      map[string]*localmesh.Upstream // by version
	clients   map[string]*proxy              // by cluster
}

// TestKubernetesClusters: Istio's configuration applied as custom resources
// reaches real Envoys: an 80/20 VirtualService splits traffic, an edit is
// in effect within crdEditWithin, an invalid edit keeps the last good one.
// The service defined in both clusters is one service with both clusters'
// endpoints, which each cluster's sidecars see at their own ClusterIP.
func TestKubernetesClusters(t *testing.T) {
	t.Parallel()
	m := startKubeMesh(t, false, reviewsVirtualService(map[string]int32{"v1": 80, "v2": 20}))
	for _, cluster := range []string{"aws", "gcp"} {
		p := m.clients[cluster]
		waitReply(t, p, kubeHost, "the 80/20 split", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream != "" })
		counts, err := p.client.Tally(t.Context(), 300, kubeHost, "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if v1 := share(counts, "reviews-v1"); v1 < 0.68 || v1 > 0.92 || share(counts, "reviews-v2") < 0.08 {
			t.Errorf("%s: replies %v, want about 80%% v1 and 20%% v2", cluster, counts)
		}
	}

	edited := m.editVirtualService(t, func(vs *clientnetworking.VirtualService) {
		vs.Spec = *reviewsVirtualService(map[string]int32{"v3": 100}).Spec.DeepCopy()
	})
	for _, cluster := range []string{"aws", "gcp"} {
		waitReply(t, m.clients[cluster], kubeHost, "v3 in gcp, from aws too", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream == "reviews-v3" })
		if since := time.Since(edited); since > crdEditWithin {
			t.Errorf("%s: the edit took %v to be in effect, want at most %v", cluster, since.Round(time.Millisecond), crdEditWithin)
		}
	}
	t.Logf("VirtualService edit in effect in both Envoys %v after the write", time.Since(edited).Round(time.Millisecond))

	m.editVirtualService(t, func(vs *clientnetworking.VirtualService) {
		vs.Spec.Http[0].Match = []*networking.HTTPMatchRequest{{Uri: &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: "(["}}}}
	})
	waitMetric(t, m.isthmus, "isthmus_config_errors", 1)
	for _, cluster := range []string{"aws", "gcp"} {
		if r := getReply(t, m.clients[cluster], kubeHost); r.Upstream != "reviews-v3" {
			t.Errorf("%s after an invalid edit: reply from %q, want the last good route to reviews-v3", cluster, r.Upstream)
		}
	}
	m.checkClusterIPs(t)
}

// startKubeMesh starts the clusters, the workloads, Isthmus and the
// clients, with routing (custom resources) created before Isthmus starts.
func startKubeMesh(t *testing.T, remoteGCP bool, routing ...any) *kubeMesh {
	t.Helper()
	clusters := kubeharness.StartAllT(t,
		kubeharness.Options{Name: "aws", ServiceCIDR: "10.96.0.0/16"},
		kubeharness.Options{Name: "gcp", ServiceCIDR: "10.97.0.0/16"})
	m := &kubeMesh{aws: clusters[0], gcp: clusters[1], remoteGCP: remoteGCP, pods: map[string]*localmesh.Upstream{}, clients: map[string]*proxy{}}
	if err := m.aws.ApplyIstioCRDs(t.Context()); err != nil {
		t.Fatal(err)
	}
	var err error
	if m.istio, err = versioned.NewForConfig(m.aws.Config()); err != nil {
		t.Fatal(err)
	}
	m.startPods(t)
	m.declareService(t, m.aws, "aws", "v1", "v2")
	m.declareService(t, m.gcp, "gcp", "v3")
	for _, obj := range append([]any{reviewsDestinationRule()}, routing...) {
		applyCRD(t, m.istio, obj)
	}
	m.startIsthmus(t)
	for _, cluster := range []string{"aws", "gcp"} {
		m.clients[cluster] = m.startKubeClient(t, cluster)
	}
	return m
}

// podUpstreamNames are the upstreams of the pods: one per version, and
// v3b, where v3 moves in the outage test.
var podUpstreamNames = map[string]string{"v1": "reviews-v1", "v2": "reviews-v2", "v3": "reviews-v3", "v3b": "reviews-v3-moved"}

// kubeMeshes counts the scenarios started, so that each has addresses of
// its own.
var kubeMeshes atomic.Int32

// startPods starts one upstream per pod at its own address on the
// loopback interface: 10.78.N.M, N from the process id, M from the
// scenario and the pod.
func (m *kubeMesh) startPods(t *testing.T) {
	t.Helper()
	base := 10 * int(kubeMeshes.Add(1))
	for i, v := range []string{"v1", "v2", "v3", "v3b"} {
		ip := fmt.Sprintf("10.78.%d.%d", os.Getpid()%250, base+i)
		remove, err := localmesh.AddLoopbackAddress(ip)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := remove(); err != nil {
				t.Error(err)
			}
		})
		u, err := localmesh.StartUpstream(podUpstreamNames[v], net.JoinHostPort(ip, strconv.Itoa(kubeTargetPort)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		m.pods[v] = u
	}
}

// declareService creates, as the controllers would, the namespace, the
// reviews Service, one Pod per version and the EndpointSlice listing them.
func (m *kubeMesh) declareService(t *testing.T, c *kubeharness.Cluster, cluster string, versions ...string) {
	t.Helper()
	ctx := t.Context()
	client := c.Client
	must(t, "namespace", create(ctx, client.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubeNamespace}}))
	must(t, "service account", create(ctx, client.CoreV1().ServiceAccounts(kubeNamespace).Create,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reviews"}}))
	must(t, "service", create(ctx, client.CoreV1().Services(kubeNamespace).Create, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "reviews"}, Ports: []corev1.ServicePort{{
			Name: "http", Port: kubeServicePort, TargetPort: intstr.FromInt32(kubeTargetPort), Protocol: corev1.ProtocolTCP}}},
	}))
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "reviews-" + cluster, Labels: map[string]string{discoveryv1.LabelServiceName: "reviews"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(kubeTargetPort)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, v := range versions {
		pod := m.declarePod(t, client, v)
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{m.pods[v].IP()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: kubeNamespace, Name: pod.Name, UID: pod.UID},
		})
	}
	must(t, "endpoint slice", create(ctx, client.DiscoveryV1().EndpointSlices(kubeNamespace).Create, slice))
}

func (m *kubeMesh) declarePod(t *testing.T, client kubernetes.Interface, version string) *corev1.Pod {
	t.Helper()
	pod, err := client.CoreV1().Pods(kubeNamespace).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews-" + version, Labels: map[string]string{"app": "reviews", "version": version}},
		Spec: corev1.PodSpec{ServiceAccountName: "reviews", AutomountServiceAccountToken: ptr(false),
			Containers: []corev1.Container{{Name: "app", Image: "local.test/reviews:v1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("pod reviews-%s: %v", version, err)
	}
	return pod
}

// startIsthmus runs Isthmus with aws as config cluster, on aws and, unless
// gcp comes from a remote secret (remoteGCP), gcp.
func (m *kubeMesh) startIsthmus(t *testing.T) {
	t.Helper()
	logDir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	args := []string{"--config-kubeconfig", m.aws.Kubeconfig, "--kubeconfig", "aws=" + m.aws.Kubeconfig}
	if !m.remoteGCP {
		args = append(args, "--kubeconfig", "gcp="+m.gcp.Kubeconfig)
	}
	var err error
	m.isthmus, err = localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: theMesh(t).isthmus.Bin, LogDir: logDir, ExtraArgs: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("isthmus log:\n%s", m.isthmus.LogTail(40))
		}
		m.isthmus.Close()
	})
}

// startKubeClient starts a sidecar of namespace shop in cluster, with an
// egress listener on a loopback address declared by its own Sidecar
// custom resource.
func (m *kubeMesh) startKubeClient(t *testing.T, cluster string) *proxy {
	t.Helper()
	name := "client-" + cluster
	ip, err := localmesh.RandomLoopbackIP(kubeServicePort)
	if err != nil {
		t.Fatal(err)
	}
	applyCRD(t, m.istio, &clientnetworking.Sidecar{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: kubeNamespace},
		Spec: networking.Sidecar{
			WorkloadSelector: &networking.WorkloadSelector{Labels: map[string]string{"app": name}},
			Egress: []*networking.IstioEgressListener{{
				Port:        &networking.SidecarPort{Number: kubeServicePort, Protocol: "HTTP", Name: "http"},
				Bind:        ip,
				CaptureMode: networking.CaptureMode_NONE,
				Hosts:       []string{"./*"},
			}},
		},
	})
	node := localmesh.SidecarNode(name, kubeNamespace, ip, map[string]string{"app": name}, cluster == "gcp")
	node.Meta["CLUSTER_ID"] = cluster
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	e, err := localmesh.StartSidecar(ctx, m.isthmus, name, node, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	t.Cleanup(func() { checkEnvoyAccepted(t, name, e) })
	addr := net.JoinHostPort(ip, strconv.Itoa(kubeServicePort))
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

// checkClusterIPs checks that each client's route for reviews answers to
// its own cluster's ClusterIP.
func (m *kubeMesh) checkClusterIPs(t *testing.T) {
	t.Helper()
	for cluster, c := range map[string]*kubeharness.Cluster{"aws": m.aws, "gcp": m.gcp} {
		svc, err := c.Client.CoreV1().Services(kubeNamespace).Get(t.Context(), "reviews", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		other := m.gcp
		if cluster == "gcp" {
			other = m.aws
		}
		otherSvc, err := other.Client.CoreV1().Services(kubeNamespace).Get(t.Context(), "reviews", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dump, err := m.clients[cluster].envoy.ConfigDump(t.Context(), "resource=dynamic_route_configs")
		if err != nil {
			t.Fatal(err)
		}
		hosts := virtualHostsFor(dump, kubeHost)
		if !strings.Contains(hosts, svc.Spec.ClusterIP) || strings.Contains(hosts, otherSvc.Spec.ClusterIP) {
			t.Errorf("%s: reviews' virtual host %s, want its own ClusterIP %s and not %s", cluster, hosts, svc.Spec.ClusterIP, otherSvc.Spec.ClusterIP)
		}
	}
}

// editVirtualService changes the reviews VirtualService and returns when
// the API server took the change.
func (m *kubeMesh) editVirtualService(t *testing.T, edit func(*clientnetworking.VirtualService)) time.Time {
	t.Helper()
	vss := m.istio.NetworkingV1().VirtualServices(kubeNamespace)
	vs, err := vss.Get(t.Context(), "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit(vs)
	if _, err := vss.Update(t.Context(), vs, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update VirtualService: %v", err)
	}
	return time.Now()
}

func reviewsVirtualService(weights map[string]int32) *clientnetworking.VirtualService {
	var route []*networking.HTTPRouteDestination
	for _, v := range []string{"v1", "v2", "v3"} {
		if w, ok := weights[v]; ok {
			route = append(route, &networking.HTTPRouteDestination{Destination: &networking.Destination{Host: "reviews", Subset: v}, Weight: w})
		}
	}
	return &clientnetworking.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: kubeNamespace},
		Spec:       networking.VirtualService{Hosts: []string{"reviews"}, Http: []*networking.HTTPRoute{{Route: route}}},
	}
}

func reviewsDestinationRule() *clientnetworking.DestinationRule {
	var subsets []*networking.Subset
	for _, v := range []string{"v1", "v2", "v3"} {
		subsets = append(subsets, &networking.Subset{Name: v, Labels: map[string]string{"version": v}})
	}
	return &clientnetworking.DestinationRule{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: kubeNamespace},
		Spec:       networking.DestinationRule{Host: "reviews", Subsets: subsets},
	}
}

// applyCRD creates an Istio custom resource in the config cluster.
func applyCRD(t *testing.T, client versioned.Interface, obj any) {
	t.Helper()
	ctx := t.Context()
	var err error
	switch o := obj.(type) {
	case *clientnetworking.VirtualService:
		_, err = client.NetworkingV1().VirtualServices(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *clientnetworking.DestinationRule:
		_, err = client.NetworkingV1().DestinationRules(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *clientnetworking.Sidecar:
		_, err = client.NetworkingV1().Sidecars(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		err = fmt.Errorf("unexpected %T", obj)
	}
	if err != nil {
		t.Fatalf("create %T: %v", obj, err)
	}
}

// waitReply sends requests for host through p until ok accepts a reply,
// failing with the last reply and isthmus's log after applyTimeout.
func waitReply(t *testing.T, p *proxy, host, what string, is *localmesh.Isthmus, ok func(localmesh.Reply) bool) {
	t.Helper()
	deadline := time.Now().Add(applyTimeout)
	var last localmesh.Reply
	var lastErr error
	for time.Now().Before(deadline) {
		if last, lastErr = p.client.Get(t.Context(), host, "/", nil); lastErr == nil && ok(last) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: %s not in effect after %v: last reply %d from %q (%v)\nisthmus log:\n%s",
		p.name, what, applyTimeout, last.Status, last.Upstream, lastErr, is.LogTail(30))
}

// getReply sends one request for host through p.
func getReply(t *testing.T, p *proxy, host string) localmesh.Reply {
	t.Helper()
	r, err := p.client.Get(t.Context(), host, "/", nil)
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return r
}

// waitMetric waits until an unlabelled gauge of is reaches want.
func waitMetric(t *testing.T, is *localmesh.Isthmus, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(applyTimeout)
	var last float64
	for time.Now().Before(deadline) {
		metrics, err := is.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if last, err = metricValue(metrics, name); err == nil && last == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s stayed at %v, want %v\nisthmus log:\n%s", name, last, want, is.LogTail(20))
}

// create adapts a client-go Create method for must.
func create[T any](ctx context.Context, f func(context.Context, T, metav1.CreateOptions) (T, error), obj T) error {
	_, err := f(ctx, obj, metav1.CreateOptions{})
	return err
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestKubernetesRemoteSecretAndOutage: a remote secret written at run time
// brings cluster gcp in; gcp's API server stopping keeps its endpoints
// served, through a crash and restart of Isthmus too (from its state); an
// endpoint moved just after gcp's API server returns is followed within
// seconds; deleting the secret takes gcp out.
func TestKubernetesRemoteSecretAndOutage(t *testing.T) {
	t.Parallel()
	m := startKubeMesh(t, true, reviewsVirtualService(map[string]int32{"v3": 100}))
	aws := m.clients["aws"]
	if r := getReply(t, aws, kubeHost); r.Upstream != "" {
		t.Fatalf("before the remote secret: reply from %q, want none (v3 is only in gcp)", r.Upstream)
	}
	m.writeRemoteSecret(t)
	waitReply(t, aws, kubeHost, "gcp from the remote secret", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream == "reviews-v3" })

	m.gcp.Stop()
	load := keepGetting(t, aws)
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	if err := m.isthmus.KillAndRestart(ctx); err != nil {
		t.Fatal(err)
	}
	waitReply(t, aws, kubeHost, "gcp's endpoints from state after the restart", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream == "reviews-v3" })
	time.Sleep(2 * time.Second)
	if replies := load.stop(); replies["reviews-v3"] == 0 || len(replies) != 1 {
		t.Errorf("while gcp's API server was down, across an Isthmus restart: replies %v, want every one from reviews-v3", replies)
	}

	if err := m.gcp.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	moved := m.moveV3(t)
	waitReply(t, aws, kubeHost, "v3 moved in gcp after its return", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream == "reviews-v3-moved" })
	t.Logf("a change made as gcp's API server returned reached Envoy %v after the write", time.Since(moved).Round(time.Millisecond))

	if err := m.aws.Client.CoreV1().Secrets("istio-system").Delete(t.Context(), "istio-remote-secret-gcp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReply(t, aws, kubeHost, "gcp gone with its secret", m.isthmus, func(r localmesh.Reply) bool { return r.Upstream == "" && r.Status == 503 })
}

// writeRemoteSecret writes, in aws's istio-system, the remote secret of
// gcp as istioctl create-remote-secret would.
func (m *kubeMesh) writeRemoteSecret(t *testing.T) {
	t.Helper()
	kubeconfig, err := os.ReadFile(m.gcp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must(t, "namespace istio-system", create(ctx, m.aws.Client.CoreV1().Namespaces().Create,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}))
	must(t, "remote secret", create(ctx, m.aws.Client.CoreV1().Secrets("istio-system").Create, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-remote-secret-gcp", Labels: map[string]string{"istio/multiCluster": "true"},
			Annotations: map[string]string{"networking.istio.io/cluster": "gcp"}},
		Data: map[string][]byte{"gcp": kubeconfig},
	}))
}

// moveV3 points gcp's EndpointSlice at the v3b pod's address instead.
func (m *kubeMesh) moveV3(t *testing.T) time.Time {
	t.Helper()
	slices := m.gcp.Client.DiscoveryV1().EndpointSlices(kubeNamespace)
	var err error
	for range 50 { // the API server may still be warming up
		var slice *discoveryv1.EndpointSlice
		if slice, err = slices.Get(t.Context(), "reviews-gcp", metav1.GetOptions{}); err == nil {
			slice.Endpoints[0].Addresses = []string{m.pods["v3b"].IP()}
			if _, err = slices.Update(t.Context(), slice, metav1.UpdateOptions{}); err == nil {
				return time.Now()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("move v3: %v", err)
	return time.Time{}
}

// replyCounter counts the replies p gets, by upstream, until stopped.
type replyCounter struct {
	mu      sync.Mutex
	replies map[string]int
	cancel  context.CancelFunc
	done    chan struct{}
}

func keepGetting(t *testing.T, p *proxy) *replyCounter {
	ctx, cancel := context.WithCancel(t.Context())
	c := &replyCounter{replies: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			r, err := p.client.Get(ctx, kubeHost, "/", nil)
			if ctx.Err() != nil {
				return
			}
			key := r.Upstream
			if err != nil || key == "" {
				key = fmt.Sprintf("status %d (%v)", r.Status, err)
			}
			c.mu.Lock()
			c.replies[key]++
			c.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return c
}

func (c *replyCounter) stop() map[string]int {
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replies
}
