package main

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/dataplane"
)

func TestFlagsSetOptions(t *testing.T) {
	opts, out, err := parseFlags([]string{
		"--qps", "200", "--connections", "4", "--duration", "2s", "--warmup", "0s",
		"--scenarios", "direct, static", "--load-generator", "fortio", "--out", "r.json",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.QPS != 200 || opts.Connections != 4 || opts.Duration != 2*time.Second || opts.Warmup != 0 {
		t.Errorf("load options = %+v", opts)
	}
	if !slices.Equal(opts.Scenarios, []string{dataplane.ScenarioDirect, dataplane.ScenarioStatic}) || opts.LoadGenerator != "fortio" || out != "r.json" {
		t.Errorf("scenarios %v, load generator %q, out %q", opts.Scenarios, opts.LoadGenerator, out)
	}
}

func TestBadUsageFailsBeforeMeasuring(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"extra-argument"}, {"--scenarios", "ambient"}, {"--load-generator", "wrk"}} {
		if code := run(append(args, "--out", ""), io.Discard, io.Discard); code == 0 {
			t.Errorf("run %v succeeded, want a failure", args)
		}
	}
}
