package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// waitLimit bounds every wait so a broken registry fails instead of hanging.
const waitLimit = 30 * time.Second

// objectsFromYAML decodes Kubernetes manifests, as a user would apply them.
func objectsFromYAML(t *testing.T, docs string) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("test YAML: %v", err)
		}
		obj := newObject(t, head.Kind)
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("test YAML %s: %v", head.Kind, err)
		}
		out = append(out, obj)
	}
	return out
}

func newObject(t *testing.T, kind string) runtime.Object {
	switch kind {
	case "Service":
		return &corev1.Service{}
	case "EndpointSlice":
		return &discoveryv1.EndpointSlice{}
	case "Pod":
		return &corev1.Pod{}
	case "Node":
		return &corev1.Node{}
	case "Namespace":
		return &corev1.Namespace{}
	}
	t.Fatalf("test YAML: unknown kind %q", kind)
	return nil
}

// cluster is a fake Kubernetes API server with a running Registry on it.
type cluster struct {
	t      *testing.T
	client *fake.Clientset
	reg    *Registry
}

// startCluster runs a registry over a fake cluster holding objs and waits
// for its first catalog.
func startCluster(t *testing.T, opts Options, manifests string) *cluster {
	t.Helper()
	client := fake.NewClientset(objectsFromYAML(t, manifests)...)
	if opts.Debounce == 0 {
		opts.Debounce = time.Millisecond
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := New(client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
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
	return &cluster{t: t, client: client, reg: reg}
}

// apply creates or updates each object, as kubectl apply would.
func (c *cluster) apply(manifests string) {
	c.t.Helper()
	ctx := context.Background()
	for _, obj := range objectsFromYAML(c.t, manifests) {
		var err error
		switch o := obj.(type) {
		case *corev1.Service:
			err = upsert(ctx, c.client.CoreV1().Services(o.Namespace), o)
		case *discoveryv1.EndpointSlice:
			err = upsert(ctx, c.client.DiscoveryV1().EndpointSlices(o.Namespace), o)
		case *corev1.Pod:
			err = upsert(ctx, c.client.CoreV1().Pods(o.Namespace), o)
		case *corev1.Node:
			err = upsert(ctx, c.client.CoreV1().Nodes(), o)
		case *corev1.Namespace:
			err = upsert(ctx, c.client.CoreV1().Namespaces(), o)
		}
		if err != nil {
			c.t.Fatalf("apply: %v", err)
		}
	}
}

type createUpdater[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

func upsert[T any](ctx context.Context, api createUpdater[T], obj T) error {
	if _, err := api.Update(ctx, obj, metav1.UpdateOptions{}); err == nil {
		return nil
	}
	_, err := api.Create(ctx, obj, metav1.CreateOptions{})
	return err
}

// waitFor receives Changes until the catalog satisfies ok.
func (c *cluster) waitFor(what string, ok func(*discovery.Catalog) bool) *discovery.Catalog {
	c.t.Helper()
	limit := time.After(waitLimit)
	for {
		if cat := c.reg.Catalog(); ok(cat) {
			return cat
		}
		select {
		case <-c.reg.Changes():
		case <-limit:
			c.t.Fatalf("catalog never got to %s; it has:\n%s", what, strings.Join(describe(c.reg.Catalog()), "\n"))
		}
	}
}

// describe renders a catalog's endpoints as sorted lines, for comparisons
// that show every field a proxy would be configured with.
func describe(cat *discovery.Catalog) []string {
	var out []string
	for _, s := range cat.Services() {
		for _, e := range cat.AllEndpoints(s.ServiceKey) {
			out = append(out, describeEndpoint(s, e))
		}
	}
	return out
}

func describeEndpoint(s *discovery.Service, e *discovery.Endpoint) string {
	line := fmt.Sprintf("%s:%d -> %s:%d cluster=%s", s.Hostname, e.ServicePort, e.Address, e.Port, e.Cluster)
	if e.Network != "" {
		line += " network=" + e.Network
	}
	if e.Locality != "" {
		line += " locality=" + e.Locality
	}
	if e.ServiceAccount != "" {
		line += " sa=" + e.ServiceAccount
	}
	return line
}

// labelsOf is an endpoint's labels as sorted k=v pairs.
func labelsOf(e *discovery.Endpoint) string {
	keys := slices.Sorted(maps.Keys(e.Labels))
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + e.Labels[k]
	}
	return strings.Join(pairs, ",")
}

func endpointCount(cat *discovery.Catalog, host, ns string) int {
	return len(cat.AllEndpoints(discovery.ServiceKey{Hostname: host, Namespace: ns}))
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func servicePort(name, appProtocol string, port int32) corev1.ServicePort {
	p := corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
	if appProtocol != "" {
		p.AppProtocol = &appProtocol
	}
	return p
}
