package xdsload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// fakeCPDirEnv, when set, makes the test binary serve a fake control plane
// on that mesh directory instead of running tests (see TestMain): the
// benchmarks run their server in a child process so that this process's
// CPU time is the load generator's alone, as when it measures Isthmus.
const fakeCPDirEnv = "XDSLOAD_FAKE_CONTROL_PLANE_DIR"

// serveFakeForParent serves a fake control plane on dir, prints its
// address on stdout and serves until stdin is closed (or the parent dies).
func serveFakeForParent(dir string) int {
	f := &fakeControlPlane{dir: dir}
	stop, err := f.serve(func(err error) { fmt.Fprintln(os.Stderr, "fake control plane:", err) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake control plane:", err)
		return 1
	}
	defer stop()
	fmt.Println(f.Addr)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startFakeProcess runs a fake control plane on dir in a child process and
// returns its address.
func startFakeProcess(b *testing.B, dir string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakeCPDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("fake control plane process: %v", err)
	}
	return strings.TrimSpace(line)
}

// benchSpec is the mesh of the fleet benchmarks: 100 services in 5
// namespaces, so that each proxy holds 80 clusters and 60 proxies share
// each namespace's resources.
func benchSpec() meshgen.Spec {
	spec := meshgen.DefaultSpec()
	spec.Services, spec.Namespaces = 100, 5
	return spec
}

const benchProxies = 300

// BenchmarkFleetConnect measures the load generator's own CPU per response
// during a connect storm of benchProxies sidecars against the fake control
// plane (in another process); "mtls" serves a STRICT mesh, whose clusters
// and listeners reference SDS secrets.
func BenchmarkFleetConnect(b *testing.B) {
	for _, mtls := range []bool{false, true} {
		for _, delta := range []bool{false, true} {
			name := map[bool]string{false: "sotw", true: "delta"}[delta]
			if mtls {
				name += "-mtls"
			}
			b.Run(name, func(b *testing.B) { benchmarkConnect(b, delta, mtls) })
		}
	}
}

func benchmarkConnect(b *testing.B, delta, mtls bool) {
	dir := b.TempDir()
	spec := benchSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		b.Fatal(err)
	}
	if mtls {
		pa := meshgen.File{Path: meshgen.PeerAuthenticationFile, Data: meshgen.PeerAuthenticationYAML("default", "STRICT")}
		if err := meshgen.WriteFile(dir, pa); err != nil {
			b.Fatal(err)
		}
	}
	opts := DefaultOptions()
	opts.Target = startFakeProcess(b, dir)
	opts.Delta, opts.Proxies, opts.Mesh, opts.PID = delta, benchProxies, spec, -1
	var cpu float64
	var responses, decodes int64
	for b.Loop() {
		before, err := readCPUSeconds(os.Getpid())
		if err != nil {
			b.Fatal(err)
		}
		fleet, storm, err := Connect(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		after, _ := readCPUSeconds(os.Getpid())
		cpu += after - before
		responses += storm.Responses
		decodes += fleet.r.cache.decodes.Load()
		fleet.Close()
	}
	b.ReportMetric(cpu*float64(time.Second)/float64(responses), "cpu-ns/response")
	b.ReportMetric(float64(responses)/float64(b.N), "responses/op")
	b.ReportMetric(float64(decodes)/float64(b.N), "decodes/op")
}
