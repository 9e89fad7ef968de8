package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

func TestExampleMeshDeclaresWorkloadsAndClient(t *testing.T) {
	root, err := localmesh.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := readExample(filepath.Join(root, "deploy", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	want := []workload{
		{"details-v1", "127.0.0.1:19101"},
		{"ratings-v1", "127.0.0.1:19091"},
		{"reviews-v1", "127.0.0.1:19081"},
		{"reviews-v2", "127.0.0.1:19082"},
		{"reviews-v3", "127.0.0.1:19083"},
	}
	if len(ex.workloads) != len(want) {
		t.Fatalf("workloads %v, want %v", ex.workloads, want)
	}
	for i := range want {
		if ex.workloads[i] != want[i] {
			t.Fatalf("workloads %v, want %v (deploy/examples/README.md lists them)", ex.workloads, want)
		}
	}
	if got := ex.client.listenAddr(); got != "127.0.0.2:9080" || ex.client.labels["app"] != "demo-client" {
		t.Fatalf("client listens on %s with labels %v, want 127.0.0.2:9080 and app=demo-client", got, ex.client.labels)
	}
}

// TestDemo runs `make demo` end to end: it uses the fixed ports of the
// example mesh, so they must be free.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	outcomes, err := runDemo(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(outcomes) != 4 {
		t.Fatalf("%d outcomes, want 4", len(outcomes))
	}
	split := outcomes[0].counts
	if v1 := float64(split["reviews-v1"]) / requests; v1 < 0.75 || v1 > 0.85 || split["reviews-v1"]+split["reviews-v2"] != requests {
		t.Errorf("reviews split %v, want about 80%% reviews-v1 and the rest reviews-v2", split)
	}
	for _, o := range outcomes[1:] {
		want := map[string]string{"reviews.default.svc.cluster.local": "reviews-v3", "ratings": "ratings-v1", "details": "details-v1"}[o.host]
		if o.counts[want] != 10 {
			t.Errorf("%s %v: replies %v, want all 10 from %s", o.host, o.header, o.counts, want)
		}
	}
}
