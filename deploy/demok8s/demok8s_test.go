//go:build demok8s

package demok8s

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestTwoCloudsDemo runs the whole demo, as `make demo-k8s` does, and
// checks what a user reads in its output: every workload injected, the
// 80/20 split across clouds, the AuthorizationPolicy's 200 and 403s, the
// caller's SPIFFE identity at the server, failover to gcp without failed
// calls beyond outlier detection, and an Isthmus replica deleted under
// traffic without a failed call, with both replicas accounting for every
// proxy. It needs root and the node prerequisites (see doc.go); it is
// built with -tags demok8s (`make demo-k8s-test`).
func TestTwoCloudsDemo(t *testing.T) {
	checkDemo(t, Options{})
}

// TestTwoNetworksDemo is the demo as `make demo-k8s` runs it, with two
// networks joined only through east-west gateways (part of `make test`):
// the same checks, and a gateway Ready in each network.
func TestTwoNetworksDemo(t *testing.T) {
	rep := checkDemo(t, Options{TwoNetworks: true})
	if rep.Gateways != 2 {
		t.Errorf("%d east-west gateways Ready, want one per network", rep.Gateways)
	}
}

// checkDemo runs the demo with opts and checks its report.
func checkDemo(t *testing.T, opts Options) *Report {
	opts.Out = testWriter{t}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Injected != 4 {
		t.Errorf("%d workload pods injected, want 4 (frontend, client, service-b in aws and gcp)", rep.Injected)
	}
	checkSplit(t, rep)
	for _, a := range rep.Authz {
		if a.Status != a.Want {
			t.Errorf("GET %s as %s: HTTP %d, want %d", a.Path, a.From, a.Status, a.Want)
		}
	}
	if want := "URI=spiffe://cluster.local/ns/frontend/sa/frontend-service"; !strings.Contains(rep.ClientCert, want) {
		t.Errorf("service-b saw X-Forwarded-Client-Cert %q, want it to hold %s", rep.ClientCert, want)
	}
	checkFailover(t, rep.Failover)
	checkReplicaKill(t, rep)
	t.Logf("cost: %s; total %s", rep.Memory, rep.Total)
	return rep
}

// checkSplit: every call answered, gcp's share near 20% (1,000 calls: 4
// standard deviations is ±5 points).
func checkSplit(t *testing.T, rep *Report) {
	t.Helper()
	total := rep.Split[AWS] + rep.Split[GCP]
	if rep.SplitFailures != 0 || total != splitCalls {
		t.Fatalf("split: %v and %d failures, want %d answers", rep.Split, rep.SplitFailures, splitCalls)
	}
	if gcp := 100 * rep.Split[GCP] / total; gcp < 15 || gcp > 25 {
		t.Errorf("split: gcp answered %d%% of the calls, want about 20%%", gcp)
	}
}

// checkFailover: at most one failed call (outlier detection ejects after
// one 5xx), and every call afterwards answered by gcp.
func checkFailover(t *testing.T, o Outcome) {
	t.Helper()
	if len(o.Failures) > 1 {
		t.Errorf("failover: %d of %d calls failed: %v", len(o.Failures), o.Calls, o.Failures)
	}
	if o.After[AWS] != 0 || o.After[GCP] == 0 {
		t.Errorf("failover: after aws's service-b pod was deleted, calls were answered by %v, want gcp only", o.After)
	}
}

// checkReplicaKill: no failed call, the proxy moved to the other replica
// where its clusters, listeners and routes have the same versions, and
// the replicas accounted for every proxy before and after.
func checkReplicaKill(t *testing.T, rep *Report) {
	t.Helper()
	r := rep.ReplicaKill
	if len(r.Failures) != 0 || r.Calls == 0 {
		t.Errorf("Isthmus replica deleted: %d of %d calls failed: %v", len(r.Failures), r.Calls, r.Failures)
	}
	if r.MovedTo == "" || r.MovedTo == r.Killed {
		t.Errorf("the frontend's proxy moved from %s to %q", r.Killed, r.MovedTo)
	}
	for _, typ := range []string{"cds", "lds", "rds"} {
		if !slices.Contains(r.Same, typ) {
			t.Errorf("the other replica serves the frontend other %s than the deleted one (same: %v, changed: %v)", typ, r.Same, r.Changed)
		}
	}
	if len(rep.ProxiesAccounted) != 2 {
		t.Errorf("the replicas' /debug/proxies accounted for every proxy %d times, want before and after", len(rep.ProxiesAccounted))
	}
}

// testWriter sends the demo's output to the test log, line by line.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
