package dataplane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestRunCrossesBothSidecars runs every scenario briefly and checks what a
// user of the benchmark relies on: no request failed, and the requests
// measured really crossed each hop the scenario names (Envoy's own
// counters on both sidecars' listeners and clusters, and the
// application's). It needs Envoy and fails without it.
func TestRunCrossesBothSidecars(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	report, err := Run(ctx, Options{
		QPS: 200, Connections: 16, Duration: 2 * time.Second, Rounds: 2, Warmup: 500 * time.Millisecond,
		LoadGenerator: LoadGenFortio, WorkDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Results) != len(AllScenarios) {
		t.Fatalf("%d results, want one per scenario %v", len(report.Results), AllScenarios)
	}
	wantHops := map[string]int{ScenarioDirect: 1, ScenarioIsthmus: 5, ScenarioStatic: 5}
	for i, res := range report.Results {
		if res.Scenario != AllScenarios[i] {
			t.Errorf("result %d is %q, want %q", i, res.Scenario, AllScenarios[i])
		}
		checkResult(t, res, wantHops[res.Scenario])
	}
	if report.EnvoyVersion == "" || report.Target == nil {
		t.Errorf("report lacks the Envoy version (%q) or the target check (%v)", report.EnvoyVersion, report.Target)
	}
	md := report.Markdown()
	for _, s := range AllScenarios {
		if !strings.Contains(md, "| "+s+" |") {
			t.Errorf("Markdown has no row for %s:\n%s", s, md)
		}
	}
}

// checkResult wants zero errors and every hop to have seen at least the
// requests measured (it also sees each connection's first request, which
// Fortio sends before measuring).
func checkResult(t *testing.T, res Result, hops int) {
	t.Helper()
	if res.Rounds != 2 || res.PercentilesFrom != "every request" {
		t.Errorf("%s: %d rounds, percentiles from %q; want 2 rounds merged exactly", res.Scenario, res.Rounds, res.PercentilesFrom)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Errorf("%s: %d requests, %d errors; want some requests and no error", res.Scenario, res.Requests, res.Errors)
	}
	if len(res.Hops) != hops {
		t.Errorf("%s: hops %+v, want %d", res.Scenario, res.Hops, hops)
	}
	for _, h := range res.Hops {
		if h.Requests < res.Requests {
			t.Errorf("%s: %s (%s) saw %d requests of the %d measured: traffic did not cross it",
				res.Scenario, h.Name, h.Stat, h.Requests, res.Requests)
		}
	}
}

// TestStaticBootstrapIsValidForEnvoy checks the hand-written configuration
// with Envoy's own validation mode.
func TestStaticBootstrapIsValidForEnvoy(t *testing.T) {
	bin, err := localmesh.EnvoyPath()
	if err != nil {
		t.Fatal(err)
	}
	hops := []staticHop{
		{name: "static-server", statPrefix: staticInboundPrefix, listenIP: "127.0.0.2", cluster: staticAppCluster, upstream: socketAddress("127.0.0.1", 8080)},
		{name: "static-client", statPrefix: staticOutboundPrefix, listenIP: "127.0.0.3", cluster: staticServerCluster, upstream: socketAddress("127.0.0.2", servicePort)},
	}
	for _, h := range hops {
		data, err := staticBootstrap(h)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), h.name+".json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "--mode", "validate", "-c", file, "--log-level", "error").CombinedOutput()
		if err != nil {
			t.Errorf("%s: envoy --mode validate: %v\n%s\nconfig:\n%s", h.name, err, out, data)
		}
	}
}

// TestRunFailsWithoutEnvoy: a missing Envoy is an error telling the user
// to install it, not a skipped benchmark.
func TestRunFailsWithoutEnvoy(t *testing.T) {
	t.Setenv("ENVOY_BIN", filepath.Join(t.TempDir(), "no-envoy"))
	_, err := Run(context.Background(), Options{Scenarios: []string{ScenarioStatic}, LoadGenerator: LoadGenFortio})
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Run without Envoy: %v, want an error saying to run make tools", err)
	}
}
