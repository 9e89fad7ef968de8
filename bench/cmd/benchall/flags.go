package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// config is what one benchall run does.
type config struct {
	Out string // the results file; its marked section is replaced

	SkipGoBench   bool
	SkipXDS       bool
	SkipDataplane bool

	// Go benchmarks: the -bench pattern and -benchtime.
	GoBench     string
	GoBenchtime string

	// xDS load: the mesh, the simulated sidecars and the changes.
	Proxies       int
	Services      int
	Namespaces    int
	SotWOnly      bool
	Unscoped      bool // no Sidecar resources: every sidecar sees every service
	DeltaOnly     bool
	Changes       int
	Rate          float64
	ConnectRate   float64 // sidecars connecting per second; 0: all at once
	ConfigTimeout time.Duration
	SettleTimeout time.Duration

	// Data plane: measured load per scenario, warm-up and request rate.
	DataplaneDuration time.Duration
	DataplaneWarmup   time.Duration
	DataplaneQPS      int

	// Args are the arguments as given, recorded with the results.
	Args []string
}

// defaultConfig is the small default run: a few minutes on 2 CPUs.
func defaultConfig() config {
	return config{
		Out:               "bench/RESULTS.md",
		GoBench:           "Translate|NewIndex|FullPush|EndpointChange",
		GoBenchtime:       "1s",
		Proxies:           500,
		Services:          1000,
		Namespaces:        100,
		Changes:           3,
		Rate:              1,
		ConfigTimeout:     2 * time.Minute,
		SettleTimeout:     10 * time.Second,
		DataplaneDuration: 20 * time.Second,
		DataplaneWarmup:   2 * time.Second,
		DataplaneQPS:      1000,
	}
}

// parseFlags reads the command line over the defaults.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("benchall", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs, stderr) }
	registerFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Args = append([]string(nil), args...)
	return cfg, cfg.validate()
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `usage: go run ./bench/cmd/benchall [flags]     (or: make bench BENCH_FLAGS='[flags]')

Runs the Go benchmarks of bench/, an xDS load run against isthmus serve and
the data-plane latency benchmark, small by default, and writes the results
into the marked section of --out. Scale up with, for example,
--proxies 5000 --sotw-only (issue 3's 5,000-sidecar target) or
--dataplane-duration 30s (Istio's method).

`)
	fs.PrintDefaults()
}

func registerFlags(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.Out, "out", cfg.Out, "results file: the section between the make-bench markers is replaced")
	fs.BoolVar(&cfg.SkipGoBench, "skip-go-bench", false, "skip the Go benchmarks")
	fs.BoolVar(&cfg.SkipXDS, "skip-xds", false, "skip the xDS load run")
	fs.BoolVar(&cfg.SkipDataplane, "skip-dataplane", false, "skip the data-plane latency benchmark")
	fs.StringVar(&cfg.GoBench, "go-bench", cfg.GoBench, "Go benchmarks to run (go test -bench pattern)")
	fs.StringVar(&cfg.GoBenchtime, "go-benchtime", cfg.GoBenchtime, "go test -benchtime (a duration, or Nx iterations)")
	fs.IntVar(&cfg.Proxies, "proxies", cfg.Proxies, "simulated sidecars in the xDS load run")
	fs.BoolVar(&cfg.Unscoped, "unscoped", cfg.Unscoped, "generate the mesh without Sidecar resources (every sidecar sees every service; issue 3's targets do not apply)")
	fs.IntVar(&cfg.Services, "services", cfg.Services, "services in the generated mesh")
	fs.IntVar(&cfg.Namespaces, "namespaces", cfg.Namespaces, "namespaces in the generated mesh")
	fs.BoolVar(&cfg.SotWOnly, "sotw-only", false, "load with state-of-the-world xDS only")
	fs.BoolVar(&cfg.DeltaOnly, "delta-only", false, "load with delta xDS only")
	fs.IntVar(&cfg.Changes, "changes", cfg.Changes, "changes per xDS change scenario")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "changes per second in the xDS change scenarios")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", cfg.ConnectRate, "sidecars connecting per second in the connect storm (0: all at once)")
	fs.DurationVar(&cfg.ConfigTimeout, "config-timeout", cfg.ConfigTimeout, "how long the connect storm waits for every sidecar's full config")
	fs.DurationVar(&cfg.SettleTimeout, "settle-timeout", cfg.SettleTimeout, "how long a change scenario waits for its changes to reach every sidecar")
	fs.DurationVar(&cfg.DataplaneDuration, "dataplane-duration", cfg.DataplaneDuration, "measured data-plane load per scenario")
	fs.DurationVar(&cfg.DataplaneWarmup, "dataplane-warmup", cfg.DataplaneWarmup, "unmeasured data-plane load per scenario (0: the data-plane benchmark's default)")
	fs.IntVar(&cfg.DataplaneQPS, "dataplane-qps", cfg.DataplaneQPS, "data-plane requests per second")
}

// validate rejects a configuration no run can honour, before anything runs.
func (c config) validate() error {
	var errs []error
	if c.SkipGoBench && c.SkipXDS && c.SkipDataplane {
		errs = append(errs, errors.New("every step is skipped: nothing to run"))
	}
	if c.Out == "" {
		errs = append(errs, errors.New("--out: want a file"))
	}
	if c.SotWOnly && c.DeltaOnly {
		errs = append(errs, errors.New("--sotw-only and --delta-only exclude each other"))
	}
	if c.Proxies < 1 {
		errs = append(errs, fmt.Errorf("--proxies %d: want at least 1", c.Proxies))
	}
	if c.Services < 1 || c.Namespaces < 1 || c.Namespaces > c.Services {
		errs = append(errs, fmt.Errorf("--services %d --namespaces %d: want at least one namespace and no more namespaces than services", c.Services, c.Namespaces))
	}
	if c.Changes < 1 || c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--changes %d --rate %g: want at least one change at a positive rate", c.Changes, c.Rate))
	}
	if c.ConnectRate < 0 {
		errs = append(errs, fmt.Errorf("--connect-rate %g: want 0 (all at once) or a positive rate", c.ConnectRate))
	}
	if c.DataplaneDuration < minDataplaneDuration {
		errs = append(errs, fmt.Errorf("--dataplane-duration %v: want at least %v", c.DataplaneDuration, minDataplaneDuration))
	}
	return errors.Join(errs...)
}

// protocols lists the xDS variants to load, state of the world first:
// false for SotW, true for delta.
func (c config) protocols() []bool {
	switch {
	case c.SotWOnly:
		return []bool{false}
	case c.DeltaOnly:
		return []bool{true}
	}
	return []bool{false, true}
}

func protocolName(delta bool) string {
	if delta {
		return "delta"
	}
	return "sotw"
}
