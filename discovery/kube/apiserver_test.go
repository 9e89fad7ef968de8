package kube

import (
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/discovery"
)

// A real kube-apiserver, reached through a remote secret holding its
// kubeconfig, goes away for over 10 s. Its endpoints stay served, the
// cluster turns stale, and an EndpointSlice changed right after the API
// server's return reaches the catalog within 5 s. (client-go's own
// reflectors took 16–59 s after a 20 s outage: their backoff had grown to
// 30 s, and the restarted API server's fresh watch cache refused their
// resource versions.)
func TestRealAPIServerOutageResyncsWithinFiveSeconds(t *testing.T) {
	east := kubeharness.StartT(t, kubeharness.Options{Name: "east"})
	ctx := t.Context()
	createWeb(t, east.Client, "10.1.0.1")
	kubeconfig, err := os.ReadFile(east.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}

	var logs logBuffer
	set := newSet(t, logs.logger())
	configCluster := fake.NewClientset(remoteSecret("istio-remote-secret-east", map[string][]byte{"east": kubeconfig}))
	secrets, err := WatchRemoteSecrets(ctx, configCluster, "", set)
	if err != nil {
		t.Fatal(err)
	}
	if !secrets.WaitForSync(ctx) {
		t.Fatal("remote secrets never listed")
	}
	waitForSet(t, set, "east's endpoint", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1"})
	})

	east.Stop()
	stopped := time.Now()
	eventually(t, "east stale", func() bool { st := set.Statuses(); return len(st) == 1 && st[0].Stale })
	t.Logf("east stale %v after the API server stopped: %s", time.Since(stopped).Round(time.Millisecond), set.Statuses()[0].Error)
	time.Sleep(time.Until(stopped.Add(12 * time.Second)))
	if got := addressesOf(set.Catalog(), webKey); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Fatalf("during the outage: endpoints %v, want the last known", got)
	}
	if err := east.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	slice := webSlice("10.1.0.1", "10.1.0.2")
	if _, err := east.Client.DiscoveryV1().EndpointSlices("shop").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForSet(t, set, "the EndpointSlice changed after the return", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1", "10.1.0.2"})
	})
	took := time.Since(back)
	t.Logf("outage %v; change in the catalog %v after the API server's return", back.Sub(stopped).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the change took %v after the API server's return, want within 5s", took)
	}
	eventually(t, "east current again", func() bool { return !set.Statuses()[0].Stale })
	if st := set.Statuses()[0]; !st.Synced || st.Error != "" || !st.LastSync.After(back) {
		t.Errorf("status after the outage: %+v", st)
	}
	if n := len(logs.lines("level=WARN", "cluster=east", "unreachable")); n != 1 {
		t.Errorf("%d WARN lines for the outage's start, want 1:\n%s", n, logs.String())
	}
	if n := len(logs.lines("level=WARN", "cluster=east", "reachable again", "outage=")); n != 1 {
		t.Errorf("%d WARN lines for the outage's end, want 1:\n%s", n, logs.String())
	}
}

// createWeb creates namespace shop, Service web and its EndpointSlice web-1.
func createWeb(t *testing.T, client kubernetes.Interface, addresses ...string) {
	t.Helper()
	ctx := t.Context()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{servicePort("http", "", 80)}},
	}
	if _, err := client.CoreV1().Services("shop").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices("shop").Create(ctx, webSlice(addresses...), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func webSlice(addresses ...string) *discoveryv1.EndpointSlice {
	name, port := "http", int32(8080)
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for _, a := range addresses {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}})
	}
	return s
}
