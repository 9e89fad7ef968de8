package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// snapshots records what the publisher hands over.
type snapshots chan *model.Snapshot

func (s snapshots) Update(snap *model.Snapshot) { s <- snap }
func (s snapshots) SetConfigErrors(int)         {}

func (s snapshots) waitFor(t *testing.T, what string, ok func(*model.Snapshot) bool) *model.Snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case snap := <-s:
			if ok(snap) {
				return snap
			}
		case <-deadline:
			t.Fatalf("no snapshot with %s", what)
		}
	}
}

func hostnames(snap *model.Snapshot) []string {
	var out []string
	for _, svc := range snap.Catalog.Services() {
		out = append(out, svc.Hostname)
	}
	return out
}

func kubeService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 9080, Protocol: corev1.ProtocolTCP}}},
	}
}

// Services of a Kubernetes cluster join those of the configuration
// directory in one snapshot, and a service created in the cluster later
// reaches a new snapshot.
func TestAssemblerMergesClustersWithFiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(kubeService("reviews"))
	r, err := kube.New(client, kube.Options{ClusterID: "aws", Debounce: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go r.Run(ctx)
	if err := r.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/serviceentry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serviceentry.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	files := policy.NewFileSource(dir, slog.New(slog.DiscardHandler), policy.Limits{})
	files.Start(ctx)
	a := assemble.New(assemble.Settings{TrustDomain: "cluster.local"}, slog.New(slog.DiscardHandler))
	a.AddSource(files)
	a.AddRegistry(r)
	out := make(snapshots, 100)
	go a.Run(ctx, out, assemble.RunOptions{Quiet: assembleQuiet, MaxWait: assembleMaxWait})
	first := out.waitFor(t, "both sources", func(s *model.Snapshot) bool {
		h := hostnames(s)
		return slices.Contains(h, "reviews.default.svc.cluster.local") && slices.Contains(h, "api.example.com")
	})

	if _, err := client.CoreV1().Services("default").Create(ctx, kubeService("ratings"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	later := out.waitFor(t, "the new cluster service", func(s *model.Snapshot) bool {
		return slices.Contains(hostnames(s), "ratings.default.svc.cluster.local")
	})
	if later.Version <= first.Version || later.Config != first.Config {
		t.Errorf("cluster change: version %d after %d, same config %v", later.Version, first.Version, later.Config == first.Config)
	}
}
