// Command consulbench measures Isthmus with a real Consul as a discovery
// source: a Consul dev agent holding generated services, `isthmus serve
// --consul` on it, simulated sidecars over delta xDS, then instance moves
// at a fixed rate, each timed from the Consul write to the sidecars' EDS
// ACK. See bench/consulbench.
//
//	go run ./bench/cmd/consulbench                   # a quick run, under a minute on 2 CPUs
//	go run ./bench/cmd/consulbench --services 1000 --proxies 1000 --churn 20 --duration 60s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

	"github.com/isthmus-mesh/isthmus/bench/consulbench"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

const usage = `Usage: go run ./bench/cmd/consulbench [flags]

Starts a Consul agent (v1.16.3 from ` + "`make consul-bin`" + `, dev mode, loopback),
registers generated services, runs isthmus serve built from this tree with
--consul on it, connects simulated sidecars, then moves instances at a fixed
rate. It prints the figures as Markdown: the p50, p90, p99 and max time from
the Consul write returning to each sidecar's EDS ACK, Isthmus's CPU and peak
RSS, and the Consul agent's CPU.

Flags:
`

// loadGeneratorGOGC: the sidecars share the cores with Isthmus and Consul;
// memory is cheaper than their GC's CPU (as xdsload).
const loadGeneratorGOGC = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(loadGeneratorGOGC)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, out, keep, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "consulbench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if opts.WorkDir, err = os.MkdirTemp("", "isthmus-consulbench-"); err != nil {
		fmt.Fprintf(stderr, "consulbench: work directory: %v\n", err)
		return 1
	}
	if opts.IsthmusBin == "" {
		fmt.Fprintln(stderr, "consulbench: building isthmus…")
		if opts.IsthmusBin, err = localmesh.BuildIsthmus(opts.WorkDir); err != nil {
			fmt.Fprintf(stderr, "consulbench: %v\n", err)
			return 1
		}
	}
	report, err := consulbench.Run(ctx, opts)
	if err != nil || keep {
		fmt.Fprintf(stderr, "consulbench: work directory kept: %s\n", opts.WorkDir)
	} else {
		_ = os.RemoveAll(opts.WorkDir)
	}
	if report == nil {
		fmt.Fprintf(stderr, "consulbench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "```\ngo run ./bench/cmd/consulbench %s\n```\n\n", strings.Join(args, " "))
	fmt.Fprintf(stdout, "Machine: %s; load average %s at the start, %s at the end.\n\n", report.Machine, report.LoadStart, report.LoadEnd)
	if werr := report.WriteMarkdown(stdout); werr != nil {
		fmt.Fprintf(stderr, "consulbench: %v\n", werr)
		return 1
	}
	if out != "" {
		if werr := writeJSON(out, report); werr != nil {
			fmt.Fprintf(stderr, "consulbench: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "consulbench: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (opts consulbench.Options, out string, keep bool, err error) {
	opts = consulbench.DefaultOptions()
	fs := flag.NewFlagSet("consulbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&opts.Services, "services", opts.Services, "Consul services (the issue's size: 1000)")
	fs.IntVar(&opts.Instances, "instances", opts.Instances, "instances per service")
	fs.IntVar(&opts.Proxies, "proxies", opts.Proxies, "simulated sidecars (the issue's size: 1000)")
	sotw := fs.Bool("sotw", false, "state-of-the-world xDS instead of delta")
	fs.Float64Var(&opts.ConnectRate, "connect-rate", opts.ConnectRate, "sidecars connecting per second (0: all at once)")
	fs.Float64Var(&opts.Churn, "churn", opts.Churn, "instance moves per second")
	fs.DurationVar(&opts.Duration, "duration", opts.Duration, "how long the churn lasts")
	fs.IntVar(&opts.Writers, "writers", opts.Writers, "Consul writes in flight at once")
	fs.DurationVar(&opts.ConfigTimeout, "config-timeout", opts.ConfigTimeout, "how long the connect storm waits for every sidecar's full config")
	fs.DurationVar(&opts.SettleTimeout, "settle-timeout", opts.SettleTimeout, "how long the churn waits for its last changes to reach every sidecar")
	fs.StringVar(&opts.IsthmusBin, "isthmus-bin", "", "isthmus binary (default: build ./cmd/isthmus into the work directory)")
	isthmusArgs := fs.String("isthmus-args", "", "extra isthmus serve flags, space-separated")
	fs.BoolVar(&keep, "keep", false, "keep the work directory")
	fs.StringVar(&out, "out", "", "also write the JSON report to this file")
	verbose := fs.Bool("v", false, "log the setup's events")
	if err = fs.Parse(args); err != nil {
		return opts, out, keep, err
	}
	if fs.NArg() > 0 {
		return opts, out, keep, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts.Delta = !*sotw
	opts.IsthmusArgs = strings.Fields(*isthmusArgs)
	opts.Progress = stderr
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return opts, out, keep, nil
}

func writeJSON(file string, report *consulbench.Report) error {
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
