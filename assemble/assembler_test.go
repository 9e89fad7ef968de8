package assemble

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// fakeSource is a ConfigSource whose definitions a test sets.
type fakeSource struct {
	name    string
	changes chan struct{}
	mu      sync.Mutex
	defs    []policy.Definition
	synced  bool
}

func newFakeSource(name string) *fakeSource {
	return &fakeSource{name: name, changes: make(chan struct{}, 1)}
}

func (f *fakeSource) Name() string             { return f.name }
func (f *fakeSource) Changes() <-chan struct{} { return f.changes }
func (f *fakeSource) Synced() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.synced
}
func (f *fakeSource) Definitions() ([]policy.Definition, []*policy.ConfigError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.defs, nil
}

// set replaces the definitions (an object nil for an invalid one).
func (f *fakeSource) set(objs ...*policy.Object) {
	f.mu.Lock()
	f.defs = nil
	for _, o := range objs {
		f.defs = append(f.defs, policy.Definition{Key: o.Key, Source: o.Source, Object: o})
	}
	f.synced = true
	f.mu.Unlock()
	debounce.Signal(f.changes)
}

func (f *fakeSource) setInvalid(key policy.Key) {
	f.mu.Lock()
	f.defs = []policy.Definition{{Key: key, Source: policy.Source{Cluster: f.name}}}
	f.mu.Unlock()
	debounce.Signal(f.changes)
}

func destinationRule(src policy.Source) *policy.Object {
	return &policy.Object{Key: policy.Key{Kind: policy.KindDestinationRule, Namespace: "default", Name: "reviews"}, Source: src,
		Spec: &networking.DestinationRule{Host: "reviews", Subsets: []*networking.Subset{{Name: "v2", Labels: map[string]string{"version": "v2"}}}}}
}

func virtualService(src policy.Source, subset string) *policy.Object {
	return &policy.Object{Key: policy.Key{Kind: policy.KindVirtualService, Namespace: "default", Name: "reviews"}, Source: src,
		Spec: &networking.VirtualService{Hosts: []string{"reviews"}, Http: []*networking.HTTPRoute{{
			Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: "reviews", Subset: subset}}}}}}}
}

// A VirtualService from the cluster may name a subset a file defines; an
// object both define is the files' (the first source), the other reported;
// an invalid new version keeps the last valid one, whichever source it
// came from.
func TestAssemblerMergesSources(t *testing.T) {
	files, cluster := newFakeSource("files"), newFakeSource("config")
	a := New(Settings{}, nil)
	a.AddSource(files)
	a.AddSource(cluster)
	fileSrc, clusterSrc := policy.Source{File: "mesh.yaml", Doc: 1}, policy.Source{Cluster: "config", ResourceVersion: "7"}
	files.set(destinationRule(fileSrc))
	cluster.set(virtualService(clusterSrc, "v2"))
	snap, problems := a.Assemble()
	vsKey := virtualService(clusterSrc, "").Key
	if len(problems) != 0 || snap.Config.Get(vsKey) == nil {
		t.Fatalf("VirtualService naming the file's subset: served %v, problems %v", snap.Config.Get(vsKey), problems)
	}

	cluster.setInvalid(vsKey)
	snap, _ = a.Assemble()
	if got := snap.Config.Get(vsKey); got == nil || got.Source != clusterSrc {
		t.Fatalf("after an invalid version: serving %v, want the last valid one", got)
	}

	cluster.set(virtualService(clusterSrc, "v2"), destinationRule(clusterSrc))
	snap, problems = a.Assemble()
	drKey := destinationRule(fileSrc).Key
	if got := snap.Config.Get(drKey); got == nil || got.Source != fileSrc {
		t.Errorf("DestinationRule defined twice: serving %v, want the file's", got)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "already defined at mesh.yaml#1") {
		t.Errorf("problems %v, want the cluster's duplicate reported", problems)
	}
}

// recordingSink keeps what it is given.
type recordingSink struct {
	snaps chan *model.Snapshot
}

func (r *recordingSink) Update(s *model.Snapshot) { r.snaps <- s }
func (r *recordingSink) SetConfigErrors(int)      {}

// Run publishes nothing until every source has synced, then every change.
func TestAssemblerRunWaitsForEverySource(t *testing.T) {
	a, files, cluster, sink := filesAndCluster()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx, sink, RunOptions{Quiet: 10 * time.Millisecond, MaxWait: 50 * time.Millisecond})
	files.set(destinationRule(policy.Source{File: "mesh.yaml"}))
	select {
	case s := <-sink.snaps:
		t.Fatalf("published version %d before the cluster synced", s.Version)
	case <-time.After(200 * time.Millisecond):
	}
	cluster.set(virtualService(policy.Source{Cluster: "config"}, "v2"))
	select {
	case s := <-sink.snaps:
		if s.Config.Len() != 2 {
			t.Fatalf("first snapshot holds %d objects, want both sources' 2", s.Config.Len())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing published after every source synced")
	}
}

// The end of the wait for sources publishes what waited for it, and
// nothing when every source had synced: a snapshot is a rebuild for every
// proxy, and nothing changed.
func TestAssemblerSyncWaitPublishesOnlyWhatWaited(t *testing.T) {
	for _, tc := range []struct {
		name     string
		syncBoth bool
		want     int // snapshots after the wait
	}{
		{"every source synced", true, 1},
		{"a source never synced", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, files, cluster, sink := filesAndCluster()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			files.set(destinationRule(policy.Source{File: "mesh.yaml"}))
			if tc.syncBoth {
				cluster.set(virtualService(policy.Source{Cluster: "config"}, "v2"))
			}
			const wait = 100 * time.Millisecond
			go a.Run(ctx, sink, RunOptions{Quiet: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond, SyncWait: wait})
			time.Sleep(5 * wait)
			if got := len(sink.snaps); got != tc.want {
				t.Errorf("%d snapshots published, want %d", got, tc.want)
			}
		})
	}
}

// filesAndCluster is an assembler of two sources, files and a config
// cluster, and a sink for what it publishes.
func filesAndCluster() (a *Assembler, files, cluster *fakeSource, sink *recordingSink) {
	files, cluster = newFakeSource("files"), newFakeSource("config")
	a = New(Settings{}, nil)
	a.AddSource(files)
	a.AddSource(cluster)
	return a, files, cluster, &recordingSink{snaps: make(chan *model.Snapshot, 10)}
}
