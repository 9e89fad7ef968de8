package kube

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// newSet returns a cluster set closed when the test ends.
func newSet(t *testing.T, logger *slog.Logger) *ClusterSet {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	set, err := NewClusterSet(Options{Debounce: time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.Close)
	return set
}

// waitForSet receives the set's Changes until its catalog satisfies ok.
func waitForSet(t *testing.T, set *ClusterSet, what string, ok func(*discovery.Catalog) bool) {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		if ok(set.Catalog()) {
			return
		}
		select {
		case <-set.Changes():
		case <-limit:
			t.Fatalf("set's catalog never got to %s; it has:\n%s", what, strings.Join(describe(set.Catalog()), "\n"))
		}
	}
}

func clusterIDs(statuses []Status) []string {
	var out []string
	for _, s := range statuses {
		out = append(out, s.Cluster)
	}
	return out
}

// Clusters join and leave a set while it runs; its catalog merges theirs,
// the first added first, and Changes follows members and membership.
func TestClusterSetAddsAndRemovesClusters(t *testing.T) {
	set := newSet(t, nil)
	if set.Name() != "clusters" || set.Catalog() == nil || len(set.Statuses()) != 0 {
		t.Fatal("empty set: want name clusters, an empty catalog, no statuses")
	}
	ctx := t.Context()
	west, east := newFaultyAPI(t, web("10.2.0.1")), newFaultyAPI(t, web("10.1.0.1"))
	if err := set.AddClient(ctx, "west", west); err != nil {
		t.Fatal(err)
	}
	if err := set.AddClient(ctx, "east", east); err != nil {
		t.Fatal(err)
	}
	waitForSet(t, set, "both clusters' endpoints", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1", "10.2.0.1"})
	})
	if got := set.Catalog().Service(webKey).Registry; got != "west" {
		t.Errorf("merged service from %q, want the first added cluster's (west)", got)
	}
	if a, b := set.Catalog(), set.Catalog(); a != b {
		t.Error("Catalog merged again without a change")
	}
	if got := clusterIDs(set.Statuses()); !slices.Equal(got, []string{"west", "east"}) {
		t.Errorf("Statuses in order %v, want the order added", got)
	}
	if err := set.AddClient(ctx, "east", east); !errors.Is(err, ErrClusterExists) {
		t.Errorf("adding east twice: %v", err)
	}
	if err := set.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if reg := set.Cluster("east"); reg == nil || !reg.HasSynced() || set.Cluster("north") != nil {
		t.Error("Cluster: want east's synced registry and nil for an unknown cluster")
	}

	(&cluster{t: t, client: east.Clientset, reg: set.Cluster("east")}).apply(web("10.1.0.1", "10.1.0.9"))
	waitForSet(t, set, "a member's change", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1", "10.1.0.9", "10.2.0.1"})
	})

	if !set.Remove("west") || set.Remove("west") {
		t.Error("Remove: want true once, then false")
	}
	waitForSet(t, set, "west's endpoints gone", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1", "10.1.0.9"})
	})
	if got := set.Catalog().Service(webKey).Registry; got != "east" {
		t.Errorf("service from %q after west left, want east", got)
	}

	set.Close()
	if len(set.Statuses()) != 0 || len(set.Catalog().Services()) != 0 {
		t.Error("after Close: want no clusters and an empty catalog")
	}
	if err := set.AddClient(ctx, "north", east); !errors.Is(err, ErrSetClosed) {
		t.Errorf("Add after Close: %v", err)
	}
}

// A cluster whose API server is down does not hold back the others, and
// its last endpoints stay in the merged catalog.
func TestClusterSetKeepsAnUnreachableClustersEndpoints(t *testing.T) {
	set := newSet(t, nil)
	ctx := t.Context()
	east, west := newFaultyAPI(t, web("10.1.0.1")), newFaultyAPI(t, web("10.2.0.1"))
	west.stop() // never reachable
	for id, c := range map[string]*faultyAPI{"east": east, "west": west} {
		if err := set.AddClient(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	waitForSet(t, set, "east's endpoints", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1"})
	})
	east.stop()
	eventually(t, "both clusters stale", func() bool {
		st := set.Statuses()
		return len(st) == 2 && st[0].Stale && st[1].Stale
	})
	if got := addressesOf(set.Catalog(), webKey); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Errorf("during east's outage: endpoints %v, want its last known ones", got)
	}
	west.restart()
	waitForSet(t, set, "west listed once it answers", func(cat *discovery.Catalog) bool {
		return slices.Equal(addressesOf(cat, webKey), []string{"10.1.0.1", "10.2.0.1"})
	})
}

func TestCollectorReportsEveryCluster(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	statuses := []Status{
		{Cluster: "east", Synced: true, LastSync: now.Add(-time.Hour)},
		{Cluster: "west", Synced: true, Stale: true, LastSync: now.Add(-time.Hour), Since: now.Add(-90 * time.Second), Error: "refused"},
		{Cluster: "north"},
	}
	c := NewCollector(func() []Status { return statuses }).(*collector)
	c.now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got = append(got, f.GetName()+"{"+clusterLabel(m)+"} "+strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64))
		}
	}
	slices.Sort(got)
	diffLines(t, "metrics", got, []string{
		"isthmus_cluster_last_sync_timestamp_seconds{east} 1767265200",
		"isthmus_cluster_last_sync_timestamp_seconds{west} 1767265200",
		"isthmus_cluster_stale_seconds{east} 0",
		"isthmus_cluster_stale_seconds{north} 0",
		"isthmus_cluster_stale_seconds{west} 90",
		"isthmus_cluster_synced{east} 1",
		"isthmus_cluster_synced{north} 0",
		"isthmus_cluster_synced{west} 0",
	})
}

func clusterLabel(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "cluster" {
			return l.GetValue()
		}
	}
	return ""
}
