// Command xdsload points N simulated Istio sidecars at an ADS server and
// measures time to full configuration, change propagation and the control
// plane's CPU and memory.
//
//	go run ./bench/cmd/meshgen --out /tmp/mesh
//	isthmus serve --config-dir /tmp/mesh --xds-listen 127.0.0.1:15010 --secure-listen "" --insecure-identities &
//	go run ./bench/cmd/xdsload --target 127.0.0.1:15010 --config-dir /tmp/mesh --proxies 100
//
// Over the secure port, each proxy with a client certificate of its
// identity from Isthmus's CA:
//
//	isthmus serve --config-dir /tmp/mesh --state-dir /tmp/state --xds-listen "" --secure-listen 127.0.0.1:15012 &
//	go run ./bench/cmd/xdsload --target 127.0.0.1:15012 --tls-ca-dir /tmp/state/ca --config-dir /tmp/mesh --proxies 100
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

func main() {
	spendMemoryOnGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// loadGeneratorGOGC lets the heap grow to five times its live size between
// collections. The load generator shares the machine's cores with the
// control plane it measures; every CPU-second it spends collecting garbage
// is taken from the server under test (a quarter of its CPU at 5,000
// sidecars with Go's default of 100).
const loadGeneratorGOGC = 400

// spendMemoryOnGC applies loadGeneratorGOGC unless GOGC is set.
func spendMemoryOnGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(loadGeneratorGOGC)
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, out, err := parseFlags(args, stderr)
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintf(stderr, "xdsload: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report, err := xdsload.Run(ctx, opts)
	if report == nil {
		fmt.Fprintf(stderr, "xdsload: %v\n", err)
		return 1
	}
	if werr := writeJSON(out, report); werr != nil {
		fmt.Fprintf(stderr, "xdsload: %v\n", werr)
		return 1
	}
	if werr := report.WriteMarkdown(stdout); werr != nil {
		fmt.Fprintf(stderr, "xdsload: %v\n", werr)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "xdsload: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (xdsload.Options, string, error) {
	opts := xdsload.DefaultOptions()
	fs := flag.NewFlagSet("xdsload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.Target, "target", opts.Target, "ADS server HOST:PORT (loopback only)")
	fs.BoolVar(&opts.Delta, "delta", opts.Delta, "use delta (incremental) xDS instead of state of the world")
	fs.IntVar(&opts.Proxies, "proxies", opts.Proxies, "number of simulated sidecars")
	fs.StringVar(&opts.ConfigDir, "config-dir", opts.ConfigDir, "the server's config directory; change scenarios rewrite files there (mesh shape read from its "+meshgen.SpecFile+")")
	scenarios := fs.String("scenarios", strings.Join(opts.Scenarios, ","), "change scenarios to run after the connect storm (comma-separated; empty for the storm only)")
	fs.IntVar(&opts.Changes, "changes", opts.Changes, "changes per change scenario")
	fs.Float64Var(&opts.Rate, "rate", opts.Rate, "changes per second")
	fs.Float64Var(&opts.ConnectRate, "connect-rate", opts.ConnectRate, "proxies connecting per second (0: all at once)")
	fs.DurationVar(&opts.ConfigTimeout, "config-timeout", opts.ConfigTimeout, "how long the connect storm waits for every proxy's full config")
	fs.DurationVar(&opts.SettleTimeout, "settle-timeout", opts.SettleTimeout, "how long a scenario waits for its changes to reach every proxy")
	fs.IntVar(&opts.PID, "pid", opts.PID, "control plane process id (default: the process listening on the target port)")
	fs.StringVar(&opts.PprofURL, "pprof", opts.PprofURL, "fetch CPU and heap profiles from this http://127.0.0.1:PORT (serving /debug/pprof)")
	fs.StringVar(&opts.MetricsURL, "metrics", opts.MetricsURL, "read the control plane's Prometheus metrics from this http://127.0.0.1:PORT/metrics before and after each scenario")
	fs.StringVar(&opts.MetricsPrefix, "metrics-prefix", opts.MetricsPrefix, "report the metric families whose names start with this (istiod's: pilot_)")
	fs.StringVar(&opts.ProfileDir, "profile-dir", opts.ProfileDir, "where profiles are written")
	fs.DurationVar(&opts.ProfileSeconds, "profile-duration", opts.ProfileSeconds, "length of each CPU profile")
	fs.StringVar(&opts.TLSCADir, "tls-ca-dir", opts.TLSCADir, "connect over TLS (Isthmus's --secure-listen), each proxy with a client certificate of the identity it claims, issued by the mesh CA in this `DIR` (Istio's cacerts layout: isthmus serve --ca-dir, or STATE_DIR/ca)")
	fs.StringVar(&opts.TLSServerName, "tls-server-name", xdsload.DefaultTLSServerName, "with --tls-ca-dir, the name the server's certificate must carry")
	fs.StringVar(&opts.TrustDomain, "trust-domain", "", "with --tls-ca-dir, the trust domain of the proxies' identities (default cluster.local)")
	fs.BoolVar(&opts.PerProxy, "per-proxy", opts.PerProxy, "include each proxy's figures in the JSON report")
	out := fs.String("out", "xdsload.json", "JSON report file")
	verbose := fs.Bool("v", false, "log each change")
	spec := opts.Mesh
	spec.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return opts, "", err
	}
	opts.Scenarios = splitList(*scenarios)
	if opts.ConfigDir == "" && !flagGiven(fs, "scenarios") {
		opts.Scenarios = nil // without a config directory nothing can change
	}
	opts.Mesh = meshSpec(fs, opts.ConfigDir, spec)
	opts.Progress, opts.Terminal = os.Stderr, isTerminal(os.Stderr)
	opts.Logger = logger(*verbose)
	return opts, *out, nil
}

// meshSpec is the shape recorded in the config directory, unless mesh
// flags were given explicitly.
func meshSpec(fs *flag.FlagSet, dir string, fromFlags meshgen.Spec) meshgen.Spec {
	explicit := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "services", "namespaces", "endpoints", "subsets", "virtual-services", "workload-entries", "sidecars", "port":
			explicit = true
		}
	})
	if dir == "" || explicit {
		return fromFlags
	}
	if recorded, err := meshgen.ReadSpec(dir); err == nil {
		return recorded
	}
	return fromFlags
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func writeJSON(file string, report *xdsload.Report) error {
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func logger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
