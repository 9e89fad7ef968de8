package xdsload

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// smallRun is a run of every scenario at small scale against target.
func smallRun(target, dir string, spec meshgen.Spec, delta bool) Options {
	opts := DefaultOptions()
	opts.Target = target
	opts.Delta = delta
	opts.Proxies = 20
	opts.Mesh = spec
	opts.ConfigDir = dir
	opts.Changes = 3
	opts.Rate = 10
	opts.ConfigTimeout = 30 * time.Second
	opts.SettleTimeout = 15 * time.Second
	opts.PID = os.Getpid()
	return opts
}

// checkConverged fails unless every scenario ran, concerned some proxies,
// reached all of them and caused no NACK. A scenario in ignorable may
// instead change no proxy's configuration at all (a change the server does
// not translate), but never some proxies' only.
func checkConverged(t *testing.T, report *Report, want []string, ignorable ...string) {
	t.Helper()
	if len(report.Scenarios) != len(want) {
		t.Fatalf("%d scenarios ran, want %v", len(report.Scenarios), want)
	}
	for i, s := range report.Scenarios {
		if s.Name != want[i] {
			t.Errorf("scenario %d is %s, want %s", i, s.Name, want[i])
		}
		if s.Error != "" {
			t.Errorf("%s: %s", s.Name, s.Error)
		}
		ignored := slices.Contains(ignorable, s.Name) && s.Observed == 0
		if ignored {
			t.Logf("%s: no proxy's configuration changed", s.Name)
		}
		if !ignored && (s.Affected == 0 || s.Observed != s.Affected) {
			t.Errorf("%s: %d of %d proxy updates seen", s.Name, s.Observed, s.Affected)
		}
		if s.NACKs != 0 {
			t.Errorf("%s: %d NACKs: %v", s.Name, s.NACKs, report.NACKs)
		}
	}
}

func allScenarios() []string {
	return append([]string{ScenarioConnectStorm}, ChangeScenarios...)
}

func TestScenariosConvergeAgainstAFakeServer(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			dir := t.TempDir()
			spec := meshgen.DefaultSpec()
			if err := meshgen.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			cp := startFakeControlPlane(t, dir, false)
			report, err := Run(context.Background(), smallRun(cp.Addr, dir, spec, delta))
			if err != nil {
				t.Fatal(err)
			}
			checkConverged(t, report, allScenarios())
			checkRestored(t, dir, spec)
			var md bytes.Buffer
			if err := report.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "| endpoint-churn |") {
				t.Errorf("markdown report:\n%s (%v)", md.String(), err)
			}
		})
	}
}

// checkRestored fails unless dir holds exactly the generated mesh again.
func checkRestored(t *testing.T, dir string, spec meshgen.Spec) {
	t.Helper()
	files, _ := spec.Files()
	want := map[string][]byte{}
	for _, f := range files {
		want[filepath.FromSlash(f.Path)] = f.Data
	}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, meshgen.SpecFile) {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		data, _ := os.ReadFile(path)
		if w, ok := want[rel]; !ok || !bytes.Equal(w, data) {
			t.Errorf("%s differs from the generated mesh after the run", rel)
		}
		delete(want, rel)
		return nil
	})
	for rel := range want {
		t.Errorf("%s missing after the run", rel)
	}
}

func TestInvalidResourcesAreNACKed(t *testing.T) {
	dir := t.TempDir()
	spec := meshgen.DefaultSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	cp := startFakeControlPlane(t, dir, true)
	opts := smallRun(cp.Addr, dir, spec, false)
	opts.Proxies = 2
	opts.Scenarios = nil
	opts.ConfigTimeout = time.Second
	report, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	storm := report.Scenarios[0]
	if storm.NACKs == 0 || storm.Observed != 0 {
		t.Errorf("%d NACKs, %d proxies configured; want NACKs and none configured", storm.NACKs, storm.Observed)
	}
	if len(report.NACKs) == 0 || report.NACKs[0].Type != "CDS" || !strings.Contains(report.NACKs[0].Error, "ConnectTimeout") {
		t.Errorf("reported NACKs %+v, want the CDS connect_timeout failure", report.NACKs)
	}
}

func TestIdentitiesParseAsIstioProxies(t *testing.T) {
	spec := meshgen.DefaultSpec()
	perNamespace := map[string]int{}
	for k := 0; k < 10; k++ {
		id := IdentityFor(spec, k)
		node, err := id.Node()
		if err != nil {
			t.Fatal(err)
		}
		p, err := model.ParseNode(node)
		if err != nil {
			t.Fatal(err)
		}
		if p.Namespace != id.Service.Namespace || p.Labels["app"] != id.Service.Name ||
			len(p.IPAddresses) != 1 || p.IPAddresses[0] != id.IP || p.ServiceAccount != id.Service.Name {
			t.Errorf("proxy %d parsed as %+v", k, p)
		}
		perNamespace[p.Namespace]++
	}
	if perNamespace["ns-0"] != 5 || perNamespace["ns-1"] != 5 {
		t.Errorf("proxies per namespace: %v, want 5 and 5", perNamespace)
	}
}

func TestProxiesTakeAddressesChurnNeverMoves(t *testing.T) {
	spec := meshgen.DefaultSpec()
	for k := 0; k < 40; k++ {
		id := IdentityFor(spec, k)
		svc := spec.Service(id.Service.Index)
		last := svc.Endpoints[len(svc.Endpoints)-1].Address
		if id.IP == last {
			t.Errorf("proxy %d has the address of the endpoint churn replaces", k)
		}
	}
}

func TestFindListenerFindsThisProcess(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	port := lis.Addr().(*net.TCPAddr).Port
	pid, err := FindListener(port)
	if err != nil || pid != os.Getpid() {
		t.Errorf("FindListener(%d) = %d, %v; want %d", port, pid, err, os.Getpid())
	}
}

func TestOnlyLoopbackTargetsAreAccepted(t *testing.T) {
	for target, ok := range map[string]bool{
		"127.0.0.1:15010": true, "localhost:15010": true, "[::1]:15010": true, "127.1.2.3:1": true,
		"10.0.0.1:15010": false, "istiod.istio-system:15010": false, "15010": false,
	} {
		if err := checkLoopback(target); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", target, err)
		}
	}
}

func TestDiffNames(t *testing.T) {
	added, removed := diffNames([]string{"a", "c", "d"}, []string{"b", "c", "e"})
	if strings.Join(added, ",") != "b,e" || strings.Join(removed, ",") != "a,d" {
		t.Errorf("added %v removed %v", added, removed)
	}
}

func TestPercentilesUseNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := percentiles(ds)
	if p.P50 != 50 || p.P90 != 90 || p.P99 != 99 || p.Max != 100 {
		t.Errorf("percentiles = %+v", p)
	}
	if one := percentiles([]time.Duration{7 * time.Millisecond}); one.P50 != 7 || one.Max != 7 {
		t.Errorf("one sample: %+v", one)
	}
}

func TestProcessCostIsRead(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rssBytes <= 0 || s.hwmBytes < s.rssBytes {
		t.Errorf("rss %d, hwm %d", s.rssBytes, s.hwmBytes)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("reading a process that does not exist succeeded")
	}
}
