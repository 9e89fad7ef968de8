package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreTheSmallRun(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Out != "bench/RESULTS.md" || cfg.Proxies != 500 || cfg.Services != 1000 || cfg.Namespaces != 100 || cfg.DataplaneDuration != 20*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	if cfg.SkipGoBench || cfg.SkipXDS || cfg.SkipDataplane {
		t.Errorf("a default run skips a step: %+v", cfg)
	}
	if !slices.Equal(cfg.protocols(), []bool{false, true}) {
		t.Errorf("default protocols = %v, want SotW then delta", cfg.protocols())
	}
	if !strings.Contains(cfg.GoBench, "FullPush") || !strings.Contains(cfg.GoBench, "EndpointChange") {
		t.Errorf("default Go benchmarks %q", cfg.GoBench)
	}
}

func TestFlagsScaleTheRun(t *testing.T) {
	args := []string{"--proxies", "5000", "--services", "2000", "--namespaces", "200", "--delta-only",
		"--dataplane-duration", "30s", "--skip-go-bench", "--out", "/tmp/r.md", "--changes", "7", "--go-benchtime", "5x"}
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxies != 5000 || cfg.Services != 2000 || cfg.Namespaces != 200 || cfg.DataplaneDuration != 30*time.Second ||
		!cfg.SkipGoBench || cfg.Out != "/tmp/r.md" || cfg.Changes != 7 || cfg.GoBenchtime != "5x" {
		t.Errorf("config = %+v", cfg)
	}
	if !slices.Equal(cfg.protocols(), []bool{true}) {
		t.Errorf("--delta-only protocols = %v", cfg.protocols())
	}
	if !slices.Equal(cfg.Args, args) {
		t.Errorf("recorded args %q", cfg.Args)
	}
	if spec := meshSpec(cfg); spec.Services != 2000 || spec.Namespaces != 200 || spec.EndpointsPerService != 3 || !spec.Sidecars {
		t.Errorf("mesh = %+v", spec)
	}
	if cfg, _ := parseFlags([]string{"--unscoped"}, io.Discard); meshSpec(cfg).Sidecars {
		t.Error("--unscoped still generates Sidecars")
	}
	cfg, _ = parseFlags([]string{"--unscoped", "--proxies", "5000", "--connect-rate", "100"}, io.Discard)
	if opts := loadOptions(cfg, "127.0.0.1:1", "/tmp/mesh", true, io.Discard); opts.ConnectRate != 100 {
		t.Errorf("--connect-rate 100 loads at %g per second", opts.ConnectRate)
	}
	if commands := strings.Join(xdsCommands(cfg, meshSpec(cfg)), "\n"); !strings.Contains(commands, "--connect-rate 100") {
		t.Errorf("the recorded commands leave out the connect rate:\n%s", commands)
	}
	cfg, _ = parseFlags([]string{"--sotw-only"}, io.Discard)
	if !slices.Equal(cfg.protocols(), []bool{false}) {
		t.Errorf("--sotw-only protocols = %v", cfg.protocols())
	}
}

func TestBadFlagsFailBeforeRunning(t *testing.T) {
	for _, args := range [][]string{
		{"--sotw-only", "--delta-only"},
		{"--skip-go-bench", "--skip-xds", "--skip-dataplane"},
		{"--services", "10", "--namespaces", "20"},
		{"--proxies", "0"},
		{"--dataplane-duration", "100ms"},
		{"--changes", "0"},
		{"--connect-rate", "-1"},
		{"--no-such-flag"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
		out := t.TempDir() + "/r.md"
		if code := run(append(args, "--out", out), io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (usage)", args, code)
		}
	}
}
