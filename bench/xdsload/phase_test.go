package xdsload

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// A phase's changes, made by the caller from several goroutines at once,
// reach every concerned proxy, and the proxies carry the identities
// Options.Identities gives them.
func TestPhaseTracksCallerChanges(t *testing.T) {
	dir := t.TempDir()
	spec := meshgen.DefaultSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	cp := startFakeControlPlane(t, dir, false)
	opts := smallRun(cp.Addr, dir, spec, true)
	opts.Proxies = 6
	opts.Identities = func(k int) *Identity {
		id := IdentityFor(spec, k)
		id.ClusterID = fmt.Sprintf("c%d", k%2)
		return id
	}
	fleet, _, err := Connect(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	for k, p := range fleet.r.proxies {
		if got, want := p.node.GetMetadata().GetFields()["CLUSTER_ID"].GetStringValue(), fmt.Sprintf("c%d", k%2); got != want {
			t.Errorf("proxy %d: CLUSTER_ID %q, want %q", k, got, want)
		}
	}

	ph := fleet.StartPhase("caller-changes")
	var mu sync.Mutex // the config directory is written by one at a time
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			svc := spec.Service(i)
			svc.SetEndpointGeneration(1)
			moved := svc.Endpoints[len(svc.Endpoints)-1].Address
			det := DetectEndpointWhere(OutboundCluster(svc.Port, "", svc.Host), func(a string) bool { return a == moved })
			c := ph.Track(svc.Host+" endpoint", det)
			svc.SetWeights(33, 67)
			weight := DetectRouteWeight(svc.Host, OutboundCluster(svc.Port, meshgen.SubsetName(0), svc.Host), func(w uint32) bool { return w == 33 })
			c2 := ph.Track(svc.Host+" weight", weight)
			mu.Lock()
			err := meshgen.WriteFile(dir, meshgen.File{Path: svc.File(), Data: svc.YAML()})
			mu.Unlock()
			c.MarkApplied()
			c2.MarkApplied()
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	res := ph.Finish(context.Background(), 15*time.Second)
	// Each change concerns the 3 proxies of its service's namespace.
	if res.Changes != 6 || res.Affected != 18 || res.Observed != res.Affected || res.NACKs != 0 {
		t.Errorf("phase: %d changes, %d of %d proxy updates seen, %d NACKs", res.Changes, res.Observed, res.Affected, res.NACKs)
	}
	if fleet.Pending() != 0 {
		t.Errorf("%d changes still pending after Finish", fleet.Pending())
	}
	report := fleet.Report(context.Background())
	if n := len(report.Scenarios); n != 2 || report.Scenarios[1].Name != "caller-changes" {
		t.Errorf("report scenarios %d, want the connect storm and the phase", n)
	}
}
