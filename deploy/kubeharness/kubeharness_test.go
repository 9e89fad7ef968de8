package kubeharness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestClusters starts two clusters at once, as multi-cluster tests will,
// and exercises what Isthmus's tests need of them; the subtests share them.
func TestClusters(t *testing.T) {
	clusters := StartAllT(t,
		Options{Name: "aws", ServiceCIDR: "10.96.0.0/16"},
		Options{Name: "gcp", ServiceCIDR: "10.97.0.0/16"})
	aws, gcp := clusters[0], clusters[1]

	t.Run("IstioCRDs", func(t *testing.T) { testIstioCRDs(t, aws) })
	t.Run("Services", func(t *testing.T) { testServices(t, aws, gcp) })
	t.Run("LeastPrivilege", func(t *testing.T) { testLeastPrivilege(t, aws) })
	t.Run("Memory", func(t *testing.T) { testMemory(t, aws, gcp) })
	t.Run("StopRestart", func(t *testing.T) { testStopRestart(t, aws) })
}

var virtualServices = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

func testIstioCRDs(t *testing.T, c *Cluster) {
	ctx := t.Context()
	if err := c.ApplyIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": "default"},
		"spec": map[string]any{
			"hosts": []any{"reviews"},
			"http":  []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v1"}}}}},
		},
	}}
	if _, err := c.Dynamic.Resource(virtualServices).Namespace("default").Create(ctx, vs, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create VirtualService: %v", err)
	}
	got, err := c.Dynamic.Resource(virtualServices).Namespace("default").Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hosts, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "hosts"); len(hosts) != 1 || hosts[0] != "reviews" {
		t.Errorf("VirtualService hosts = %v, want [reviews]", hosts)
	}
	// Applying again (e.g. a second test of the same cluster) is fine.
	if err := c.ApplyIstioCRDs(ctx); err != nil {
		t.Errorf("second apply: %v", err)
	}
}

// testServices creates the objects Isthmus discovers, in both clusters,
// and checks each cluster allocates ClusterIPs from its own range.
func testServices(t *testing.T, clusters ...*Cluster) {
	for i, c := range clusters {
		svc := createService(t, c.Client, "shop", "cart", fmt.Sprintf("10.244.%d.5", i+1))
		cidr := netip.MustParsePrefix([]string{"10.96.0.0/16", "10.97.0.0/16"}[i])
		if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err != nil || !cidr.Contains(ip) {
			t.Errorf("cluster %s: ClusterIP %q not in %s", c.Name, svc.Spec.ClusterIP, cidr)
		}
		eps, err := c.Client.DiscoveryV1().EndpointSlices("shop").List(t.Context(),
			metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=cart"})
		if err != nil || len(eps.Items) != 1 {
			t.Fatalf("cluster %s: EndpointSlices of cart: %v (err %v)", c.Name, eps, err)
		}
		if got, want := eps.Items[0].Endpoints[0].Addresses[0], fmt.Sprintf("10.244.%d.5", i+1); got != want {
			t.Errorf("cluster %s: endpoint %s, want %s", c.Name, got, want)
		}
	}
}

// createService creates namespace ns (if missing), a Service and an
// EndpointSlice with one ready endpoint at addr.
func createService(t *testing.T, client kubernetes.Interface, ns, name, addr string) *corev1.Service {
	t.Helper()
	ctx := t.Context()
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	svc, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	_, err = client.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: new(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(8080))}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create EndpointSlice of %s/%s: %v", ns, name, err)
	}
	return svc
}

// testLeastPrivilege checks a user holds exactly its rules, through the
// kubeconfig file as Isthmus would load it.
func testLeastPrivilege(t *testing.T, c *Cluster) {
	ctx := t.Context()
	user, err := c.CreateUser(ctx, "reader", rbacv1.PolicyRule{
		Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"services"},
	})
	if err != nil {
		t.Fatal(err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", user.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(config)
	if _, err := client.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("%s lists services: %v", user.Name, err)
	}
	_, err = client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s lists secrets: got %v, want Forbidden", user.Name, err)
	}
	_, err = client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s creates a service: got %v, want Forbidden", user.Name, err)
	}
}

// testMemory keeps two clusters within the budget multi-cluster tests have.
func testMemory(t *testing.T, clusters ...*Cluster) {
	const budget = 2 << 30
	var total int64
	for _, c := range clusters {
		for _, comp := range c.components {
			rss, err := residentBytes(comp.pid())
			if err != nil {
				t.Fatalf("%s %s: %v", c.Name, comp.name, err)
			}
			t.Logf("%s %s: %d MiB", c.Name, comp.name, rss>>20)
			total += rss
		}
	}
	if total > budget {
		t.Errorf("clusters use %d MiB, budget %d MiB", total>>20, budget>>20)
	}
}

// residentBytes reads a process's resident set size from /proc.
func residentBytes(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// testStopRestart takes the apiserver away and back: clients fail in
// between, and everything stored survives.
func testStopRestart(t *testing.T, c *Cluster) {
	ctx := t.Context()
	createService(t, c.Client, "outage", "before", "10.244.9.9")
	c.Stop()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Client.CoreV1().Services("outage").Get(short, "before", metav1.GetOptions{}); err == nil {
		t.Fatal("the apiserver still answers after Stop")
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Services("outage").Get(ctx, "before", metav1.GetOptions{}); err != nil {
		t.Errorf("service created before the restart: %v", err)
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices("outage").Get(ctx, "before-1", metav1.GetOptions{}); err != nil {
		t.Errorf("EndpointSlice created before the restart: %v", err)
	}
	crds, err := c.Dynamic.Resource(crdResource).List(ctx, metav1.ListOptions{})
	if err != nil || len(crds.Items) == 0 {
		t.Errorf("CRDs after the restart: %d (err %v)", len(crds.Items), err)
	}
}

func TestBinaryPathMissing(t *testing.T) {
	t.Setenv(BinaryEnv, "/nonexistent/kube")
	_, err := BinaryPath()
	if err == nil || !strings.Contains(err.Error(), "make kube-bins") {
		t.Fatalf("BinaryPath() error = %v, want one saying to run `make kube-bins`", err)
	}
	if _, err := Start(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), "make kube-bins") {
		t.Fatalf("Start() error = %v, want one saying to run `make kube-bins`", err)
	}
}

// TestBinaryPathCache: BinaryPath names the binary of the repository's
// tools/kube sources in the cache, and build.sh keys the same path: given
// that file, build.sh prints its path instead of building (GO=false makes
// a build, if it were wrongly started, fail at once).
func TestBinaryPathCache(t *testing.T) {
	t.Setenv(BinaryEnv, "")
	dir := t.TempDir()
	t.Setenv("ISTHMUS_CACHE", dir)
	key, err := SourcesKey("../../tools/kube")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "kube", KubeVersion+"-"+key, "kube")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := BinaryPath(); err != nil || got != want {
		t.Fatalf("BinaryPath() = %q, %v; want %q", got, err, want)
	}
	build := exec.Command("../../tools/kube/build.sh")
	build.Env = append(os.Environ(), "GO=false")
	out, err := build.Output()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("tools/kube/build.sh printed %q (%v), want the path BinaryPath names, %q", out, err, want)
	}
}

// TestKubeVersionMatchesTools keeps KubeVersion and tools/kube/go.mod, from
// which build.sh takes the cache directory's name, in step.
func TestKubeVersionMatchesTools(t *testing.T) {
	data, err := os.ReadFile("../../tools/kube/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\tk8s.io/kubernetes "+KubeVersion+"\n") {
		t.Errorf("tools/kube/go.mod does not require k8s.io/kubernetes %s", KubeVersion)
	}
}

// TestStartRetriesTakenPort runs a fake binary whose every component exits
// as if its port were taken: Start tries startAttempts times, then fails
// with the log, without waiting for its timeout.
func TestStartRetriesTakenPort(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "kube")
	body := "#!/bin/sh\necho \"$1\" >> " + filepath.Join(dir, "runs") + "\necho 'listen tcp 127.0.0.1:1: bind: address already in use' >&2\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinaryEnv, script)
	_, err := Start(t.Context(), Options{Name: "fake", Dir: dir, StartTimeout: time.Minute})
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start() error = %v, want the port-taken error with the log", err)
	}
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if got := strings.Count(string(runs), "etcd\n"); got != startAttempts {
		t.Errorf("etcd started %d times, want %d", got, startAttempts)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "kubeharness-*")); len(leftovers) != 0 {
		t.Errorf("scratch directories left behind: %v", leftovers)
	}
}
