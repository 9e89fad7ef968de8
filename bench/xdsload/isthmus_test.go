package xdsload

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/deploy/freeport"
)

// buildDir holds the isthmus binary the tests build; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	if dir := os.Getenv(fakeCPDirEnv); dir != "" {
		os.Exit(serveFakeForParent(dir))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// isthmusBinary builds cmd/isthmus once per test binary.
var isthmusBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "xdsload-isthmus-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "isthmus")
	cmd := exec.Command(goTool(), "build", "-o", bin, "github.com/isthmus-mesh/isthmus/cmd/isthmus")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{out: out, err: err}
	}
	return bin, nil
})

type buildError struct {
	out []byte
	err error
}

func (e *buildError) Error() string {
	return "go build ./cmd/isthmus: " + e.err.Error() + "\n" + string(e.out)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// freeAddr returns a loopback address with a port nothing listens on now,
// below the ephemeral range (see freeport).
func freeAddr(t *testing.T) string {
	t.Helper()
	ports, err := freeport.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
}

// startIsthmus runs `isthmus serve` on dir and waits until it is ready. It
// returns the xDS address, the process and its monitoring address.
func startIsthmus(t *testing.T, dir string) (string, *exec.Cmd, string) {
	t.Helper()
	xdsAddr := freeAddr(t)
	cmd, monAddr := startIsthmusWith(t, dir, "--xds-listen", xdsAddr, "--secure-listen", "", "--insecure-identities")
	return xdsAddr, cmd, monAddr
}

// startIsthmusWith runs `isthmus serve` on dir with the listeners args
// give and waits until it is ready. It returns the process and its
// monitoring address.
func startIsthmusWith(t *testing.T, dir string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	bin, err := isthmusBinary()
	if err != nil {
		t.Fatal(err)
	}
	monAddr := freeAddr(t)
	args = append([]string{"serve", "--config-dir", dir, "--monitoring-listen", monAddr, "--webhook-listen", "", "--log-level", "warn"}, args...)
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("isthmus logs:\n%s", logs.String())
		}
	})
	waitReady(t, "http://"+monAddr+"/readyz")
	return cmd, monAddr
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 30s", url)
}

// Every scenario, once at small scale, against a real `isthmus serve`
// reading the generated mesh from files: every concerned proxy gets every
// change and nothing is NACKed.
func TestScenariosConvergeAgainstIsthmus(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			dir := t.TempDir()
			spec := meshgen.DefaultSpec()
			if err := meshgen.Write(dir, spec); err != nil {
				t.Fatal(err)
			}
			addr, cmd, monAddr := startIsthmus(t, dir)
			opts := smallRun(addr, dir, spec, delta)
			opts.PID = cmd.Process.Pid
			opts.MetricsURL = "http://" + monAddr + "/metrics"
			opts.Changes, opts.SettleTimeout = 1, 5*time.Second
			report, err := Run(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			// A mesh-wide PeerAuthentication changes every sidecar's
			// inbound listener, and each must get it.
			checkConverged(t, report, allScenarios())
			checkRestored(t, dir, spec)
			if report.ControlPlane == nil || report.ControlPlane.PeakRSSBytes == 0 {
				t.Errorf("control plane cost not measured: %+v (notes %v)", report.ControlPlane, report.Notes)
			}
			checkIsthmusMetrics(t, report)
		})
	}
}

// Over the secure port, each proxy with a client certificate of the
// identity it claims from the CA in Isthmus's state directory: every proxy
// proves its identity, gets its key (it is configured only once it holds
// every secret its configuration references) and the mesh-wide change.
func TestSecurePortWithClientCertificates(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	spec := meshgen.DefaultSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd, monAddr := startIsthmusWith(t, dir, "--state-dir", state, "--xds-listen", "", "--secure-listen", addr)
	opts := smallRun(addr, dir, spec, false)
	opts.PID = cmd.Process.Pid
	opts.MetricsURL = "http://" + monAddr + "/metrics"
	opts.TLSCADir = filepath.Join(state, "ca")
	opts.Scenarios = []string{ScenarioMeshWideChange}
	opts.Changes, opts.SettleTimeout = 1, 5*time.Second
	report, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkConverged(t, report, []string{ScenarioConnectStorm, ScenarioMeshWideChange})
	claimed := map[string]bool{}
	for k := range opts.Proxies {
		id := IdentityFor(spec, k)
		claimed[id.Namespace+"/"+id.Service.ServiceAccount()] = true
	}
	if report.TLS == nil || report.TLS.Identities != len(claimed) || report.TLS.ServerName != DefaultTLSServerName {
		t.Errorf("TLS report %+v, want %d identities for %s", report.TLS, len(claimed), DefaultTLSServerName)
	}
	checkIsthmusMetrics(t, report)
}

// checkIsthmusMetrics checks the control plane's own metrics as the report
// gives them: after the storm every proxy is connected, and the mesh-wide
// change set a new listener version for each.
func checkIsthmusMetrics(t *testing.T, report *Report) {
	t.Helper()
	metric := func(scenario, series string) (Metric, bool) {
		for _, s := range report.Scenarios {
			if s.Name != scenario {
				continue
			}
			for _, m := range s.Metrics {
				if m.Series == series {
					return m, true
				}
			}
		}
		return Metric{}, false
	}
	if m, ok := metric(ScenarioConnectStorm, "isthmus_xds_connected_proxies"); !ok || m.Value != float64(report.Proxies) {
		t.Errorf("connect storm: isthmus_xds_connected_proxies %+v (reported: %v), want %d", m, ok, report.Proxies)
	}
	if m, ok := metric(ScenarioMeshWideChange, `isthmus_xds_pushes_total{type="lds"}`); !ok || m.Value < float64(report.Proxies) {
		t.Errorf("mesh-wide change: listener pushes %+v (reported: %v), want at least one per proxy (%d)", m, ok, report.Proxies)
	}
	if m, ok := metric(ScenarioMeshWideChange, "isthmus_xds_push_duration_seconds"); !ok || m.Count < 1 || m.P99 <= 0 {
		t.Errorf("mesh-wide change: push duration %+v (reported: %v), want at least one push observed", m, ok)
	}
}
