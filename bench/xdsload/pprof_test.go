package xdsload

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// servePprof serves this process's /debug/pprof on loopback.
func servePprof(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(lis)
	t.Cleanup(func() { srv.Close() })
	return "http://" + lis.Addr().String()
}

func TestProfilesAreRecordedWhenTheTargetServesPprof(t *testing.T) {
	dir := t.TempDir()
	spec := meshgen.DefaultSpec()
	if err := meshgen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	cp := startFakeControlPlane(t, dir, false)
	opts := smallRun(cp.Addr, dir, spec, false)
	opts.Scenarios = nil
	opts.PprofURL, opts.ProfileDir, opts.ProfileSeconds = servePprof(t), t.TempDir(), time.Second
	report, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cpu-connect-storm.pprof", "heap-after-connect-storm.pprof", "heap-end.pprof"} {
		path := filepath.Join(opts.ProfileDir, name)
		if info, err := os.Stat(path); err != nil || info.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
		if !slices.Contains(report.Profiles, path) {
			t.Errorf("report lists profiles %v, not %s", report.Profiles, path)
		}
	}
}
