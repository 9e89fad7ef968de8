// Command dataplane measures the latency Envoy sidecars configured by
// Isthmus add, against a direct call and against the same two Envoys with a
// hand-written static configuration (see package bench/dataplane). Run it
// from the repository (it builds ./cmd/isthmus unless --isthmus-bin is
// given):
//
//	go run ./bench/cmd/dataplane                          # Istio's method, 30 s per scenario
//	go run ./bench/cmd/dataplane --duration 6s --rounds 3 --warmup 1s --qps 200
//
// The Markdown table goes to stdout, the JSON report to --out.
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
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/dataplane"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, out, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dataplane: %v\n", err)
		return 2
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report, err := dataplane.Run(ctx, opts)
	if report != nil {
		if werr := writeReport(report, out, stdout); werr != nil {
			fmt.Fprintf(stderr, "dataplane: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "dataplane: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (dataplane.Options, string, error) {
	var opts dataplane.Options
	fs := flag.NewFlagSet("dataplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opts.QPS, "qps", dataplane.DefaultQPS, "requests per second, over all connections")
	fs.IntVar(&opts.Connections, "connections", dataplane.DefaultConnections, "concurrent HTTP/1.1 connections")
	fs.IntVar(&opts.PayloadBytes, "payload", dataplane.DefaultPayloadBytes, "request and response body size in bytes")
	fs.DurationVar(&opts.Duration, "duration", dataplane.DefaultDuration, "measured load per scenario, over all rounds")
	fs.DurationVar(&opts.Warmup, "warmup", dataplane.DefaultWarmup, "unmeasured load per scenario before measuring")
	fs.IntVar(&opts.Rounds, "rounds", 0, "interleaved rounds the measured duration is split into (default: one per second)")
	scenarios := fs.String("scenarios", strings.Join(dataplane.AllScenarios, ","), "scenarios to measure, comma-separated")
	fs.StringVar(&opts.LoadGenerator, "load-generator", dataplane.LoadGenAuto, "auto (nighthawk_client when on PATH, else Fortio), fortio or nighthawk")
	fs.StringVar(&opts.IsthmusBin, "isthmus-bin", "", "isthmus binary (default: build ./cmd/isthmus)")
	fs.StringVar(&opts.WorkDir, "work-dir", "", "directory for configuration and logs (default: a temporary one, removed after a successful run)")
	fs.BoolVar(&opts.KeepWorkDir, "keep", false, "keep the temporary work directory")
	out := fs.String("out", "dataplane.json", "JSON report file (\"\" for none)")
	if err := fs.Parse(args); err != nil {
		return opts, "", err
	}
	if fs.NArg() > 0 {
		return opts, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts.Scenarios = splitList(*scenarios)
	if opts.Rounds == 0 {
		// Short rounds let the target be judged round by round, so that a
		// busy spell of the machine falls on few of them.
		opts.Rounds = max(int(opts.Duration/time.Second), 1)
	}
	return opts, *out, nil
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

// writeReport writes the JSON report to path (unless "") and the Markdown
// to stdout.
func writeReport(r *dataplane.Report, path string, stdout io.Writer) error {
	if path != "" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	_, err := io.WriteString(stdout, r.Markdown())
	return err
}
