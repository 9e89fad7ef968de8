package meshgen_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/discovery/serviceentry"
	"github.com/isthmus-mesh/isthmus/policy"
)

// waitLimit bounds every wait so a broken registry fails instead of hanging.
const waitLimit = 30 * time.Second

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// kubeSpec is a small mesh: 5 services in 2 namespaces, 3 endpoints each.
func kubeSpec() meshgen.Spec {
	return meshgen.Spec{Services: 5, Namespaces: 2, EndpointsPerService: 3, Subsets: 2, Port: 8080,
		VirtualServicesPerNamespace: meshgen.AllServices, Sidecars: true}
}

// fileCatalog is the catalog `isthmus serve --config-dir` builds from the
// files meshgen writes for spec.
func fileCatalog(t *testing.T, spec meshgen.Spec) *discovery.Catalog {
	t.Helper()
	cfg := loadDir(t, spec)
	return serviceentry.Build(cfg)
}

func loadDir(t *testing.T, spec meshgen.Spec) *policy.Config {
	t.Helper()
	dir := t.TempDir()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	cfg, problems := policy.LoadPaths([]string{dir})
	for _, p := range problems {
		t.Errorf("load %s: %s", dir, p)
	}
	return cfg
}

// startRegistry runs discovery/kube on client, as `isthmus serve
// --kubeconfig` does, and waits for its first catalog.
func startRegistry(t *testing.T, client *fake.Clientset) *kube.Registry {
	t.Helper()
	reg, err := kube.New(client, kube.Options{ClusterID: "bench", Debounce: time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := reg.Start(context.Background(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return reg
}

// waitFor receives the registry's Changes until its catalog satisfies ok.
func waitFor(t *testing.T, reg *kube.Registry, what string, ok func(*discovery.Catalog) bool) *discovery.Catalog {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		if cat := reg.Catalog(); ok(cat) {
			return cat
		}
		select {
		case <-reg.Changes():
		case <-limit:
			t.Fatalf("catalog never got to %s; it has:\n%s", what, strings.Join(describe(reg.Catalog()), "\n"))
		}
	}
}

// addedByRegistry are the labels discovery/kube adds to every endpoint
// (topology, as Istio does); the file registry has no cluster to add.
var addedByRegistry = []string{
	"topology.istio.io/cluster", "topology.istio.io/network", "kubernetes.io/hostname",
	"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone",
}

// describe renders what a proxy is configured with from a catalog, leaving
// out only the registry's name: services with addresses, ports,
// protocols, resolution and location; endpoints with address, port,
// labels (the subsets' version, the sidecar's tlsMode) and identity.
func describe(cat *discovery.Catalog) []string {
	var out []string
	for _, s := range cat.Services() {
		out = append(out, fmt.Sprintf("service %s ns=%s addresses=%v ports=%v resolution=%d location=%d exportTo=%v",
			s.Hostname, s.Namespace, s.Addresses, s.Ports, s.Resolution, s.Location, s.ExportTo))
		for _, e := range cat.AllEndpoints(s.ServiceKey) {
			out = append(out, fmt.Sprintf("  %s:%d -> %s:%d sa=%s network=%q locality=%q labels=%s",
				s.Hostname, e.ServicePort, e.Address, e.Port, e.ServiceAccount, e.Network, e.Locality, workloadLabels(e)))
		}
	}
	return out
}

func workloadLabels(e *discovery.Endpoint) string {
	labels := maps.Clone(e.Labels)
	for _, k := range addedByRegistry {
		delete(labels, k)
	}
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		pairs = append(pairs, k+"="+labels[k])
	}
	return strings.Join(pairs, ",")
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func applyKube(t *testing.T, k *meshgen.KubeMesh, spec meshgen.Spec) {
	t.Helper()
	if err := k.Apply(context.Background(), spec); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// writes lists the create, update and delete actions a fake client saw.
func writes(actions []k8stesting.Action) []string {
	var out []string
	for _, a := range actions {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
		}
	}
	return out
}

// The services and endpoints discovery/kube finds in the API server are
// the ones the file mode's ServiceEntries give (inline endpoints or
// WorkloadEntries): same hosts, VIPs, HTTP ports, endpoint addresses,
// version labels, tlsMode and service accounts.
func TestKubernetesModeGivesTheCatalogOfTheFileMode(t *testing.T) {
	spec := kubeSpec()
	client := fake.NewClientset()
	applyKube(t, meshgen.NewKubeMesh(client, meshgen.KubeOptions{Logger: quiet()}), spec)
	cat := startRegistry(t, client).Catalog()
	checkWorkloads(t, spec, cat)
	got := describe(cat)

	if n := len(got); n != spec.Services*(1+spec.EndpointsPerService) {
		t.Fatalf("kube catalog has %d lines, want %d services with %d endpoints each:\n%s",
			n, spec.Services, spec.EndpointsPerService, strings.Join(got, "\n"))
	}
	for _, workloadEntries := range []bool{false, true} {
		files := spec
		files.WorkloadEntries = workloadEntries
		diffLines(t, fmt.Sprintf("kube catalog vs file catalog (workload entries %v)", workloadEntries),
			got, describe(fileCatalog(t, files)))
	}
}

// checkWorkloads: every endpoint of service I has the sidecar mark, a
// version a subset selects, and service account svc-I.
func checkWorkloads(t *testing.T, spec meshgen.Spec, cat *discovery.Catalog) {
	t.Helper()
	for i := 0; i < spec.Services; i++ {
		svc := spec.Service(i)
		for _, e := range cat.AllEndpoints(discovery.ServiceKey{Hostname: svc.Host, Namespace: svc.Namespace}) {
			if e.Labels[meshgen.SidecarLabel] != "istio" || e.Labels["version"] == "" || e.ServiceAccount != svc.Name {
				t.Errorf("%s endpoint %s: labels %v, service account %q", svc.Host, e.Address, e.Labels, e.ServiceAccount)
			}
		}
	}
}

func TestPodsReportTheirEndpointAddress(t *testing.T) {
	spec := kubeSpec()
	client := fake.NewClientset()
	applyKube(t, meshgen.NewKubeMesh(client, meshgen.KubeOptions{Logger: quiet()}), spec)
	svc := spec.Service(3)
	for _, ep := range svc.Endpoints {
		pod, err := client.CoreV1().Pods(svc.Namespace).Get(context.Background(), meshgen.PodName(ep), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Status.PodIP != ep.Address || pod.Status.Phase != "Running" {
			t.Errorf("pod %s: status IP %q phase %q, want %s running", pod.Name, pod.Status.PodIP, pod.Status.Phase, ep.Address)
		}
	}
}

// Applying the same mesh again reads but writes nothing.
func TestApplyingTwiceChangesNothing(t *testing.T) {
	spec := kubeSpec()
	client := fake.NewClientset()
	k := meshgen.NewKubeMesh(client, meshgen.KubeOptions{Logger: quiet()})
	applyKube(t, k, spec)
	client.ClearActions()
	applyKube(t, k, spec)
	if w := writes(client.Actions()); len(w) > 0 {
		t.Errorf("second apply wrote %d times: %v", len(w), w)
	}
}

// An endpoint that moves (SetEndpointGeneration, then SetEndpoints)
// reaches the registry as the file mode gives it, with its old pod gone;
// a deleted service leaves the catalog.
func TestEndpointChurnReachesTheRegistry(t *testing.T) {
	spec := kubeSpec()
	client := fake.NewClientset()
	k := meshgen.NewKubeMesh(client, meshgen.KubeOptions{Logger: quiet()})
	applyKube(t, k, spec)
	reg := startRegistry(t, client)

	svc := spec.Service(1)
	old := svc.Endpoints[len(svc.Endpoints)-1]
	svc.SetEndpointGeneration(4)
	moved := svc.Endpoints[len(svc.Endpoints)-1].Address
	if err := k.SetEndpoints(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	key := discovery.ServiceKey{Hostname: svc.Host, Namespace: svc.Namespace}
	cat := waitFor(t, reg, "the moved endpoint "+moved, func(c *discovery.Catalog) bool {
		return slices.ContainsFunc(c.AllEndpoints(key), func(e *discovery.Endpoint) bool { return e.Address == moved })
	})
	want := serviceentry.Build(policy.NewConfig(decodeAll(t, []meshgen.File{{Path: svc.File(), Data: svc.YAML()}})))
	diffLines(t, "endpoints after the move", describe(onlyService(cat, key)), describe(want))

	_, err := client.CoreV1().Pods(svc.Namespace).Get(context.Background(), meshgen.PodName(old), metav1.GetOptions{})
	if err == nil {
		t.Errorf("pod %s of the replaced endpoint still exists", meshgen.PodName(old))
	}

	gone := spec.Service(4)
	if err := k.DeleteService(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reg, gone.Host+" deleted", func(c *discovery.Catalog) bool {
		return len(c.ServicesByHost(gone.Host)) == 0
	})
}

// onlyService is the part of a catalog that is one service.
func onlyService(cat *discovery.Catalog, key discovery.ServiceKey) *discovery.Catalog {
	return discovery.NewCatalog([]*discovery.Service{cat.Service(key)},
		map[discovery.ServiceKey][]*discovery.Endpoint{key: cat.AllEndpoints(key)})
}

// In Kubernetes mode the config directory holds the routing config only:
// the services come from the API server.
func TestKubernetesModeWritesNoServiceEntries(t *testing.T) {
	spec := kubeSpec()
	spec.Kubernetes = true
	cfg := loadDir(t, spec)
	want := map[policy.Kind]int{
		policy.KindServiceEntry: 0, policy.KindWorkloadEntry: 0,
		policy.KindDestinationRule: spec.Services, policy.KindVirtualService: spec.Services, policy.KindSidecar: spec.Namespaces,
	}
	for kind, n := range want {
		if got := len(cfg.List(kind)); got != n {
			t.Errorf("%s: %d objects, want %d", kind, got, n)
		}
	}
}

var istioListKinds = map[schema.GroupVersionResource]string{
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}: "DestinationRuleList",
	{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}:  "VirtualServiceList",
	{Group: "networking.istio.io", Version: "v1", Resource: "sidecars"}:         "SidecarList",
}

// With a dynamic client, the routing config also goes to the API server as
// Istio custom resources, the same objects the files hold; applying it
// again writes nothing.
func TestIstioConfigIsAppliedAsCustomResources(t *testing.T) {
	spec := kubeSpec()
	istio := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), istioListKinds)
	k := meshgen.NewKubeMesh(fake.NewClientset(), meshgen.KubeOptions{Logger: quiet(), Istio: istio})
	applyKube(t, k, spec)

	spec.Kubernetes = true
	files := loadDir(t, spec)
	for gvr := range istioListKinds {
		list, err := istio.Resource(gvr).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kind := policy.Kind(strings.TrimSuffix(istioListKinds[gvr], "List"))
		if got, want := len(list.Items), len(files.List(kind)); got != want || got == 0 {
			t.Errorf("%s: %d in the API server, %d in the files", gvr.Resource, got, want)
		}
	}
	vs, err := istio.Resource(meshgen.IstioResource(schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"})).
		Namespace("ns-1").Get(context.Background(), "svc-3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	if !slices.Equal(hosts, []string{"svc-3.ns-1.svc.cluster.local"}) {
		t.Errorf("VirtualService ns-1/svc-3 hosts %v", hosts)
	}

	istio.ClearActions()
	applyKube(t, k, kubeSpec())
	if w := writes(istio.Actions()); len(w) > 0 {
		t.Errorf("second apply wrote %d custom resources: %v", len(w), w)
	}
}

func TestIstioResourceNames(t *testing.T) {
	for kind, want := range map[string]string{
		"DestinationRule": "destinationrules", "Sidecar": "sidecars", "ServiceEntry": "serviceentries",
		"PeerAuthentication": "peerauthentications", "AuthorizationPolicy": "authorizationpolicies",
	} {
		if got := meshgen.IstioResource(schema.GroupVersionKind{Kind: kind}).Resource; got != want {
			t.Errorf("%s: resource %q, want %q", kind, got, want)
		}
	}
}
