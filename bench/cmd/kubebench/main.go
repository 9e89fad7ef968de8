// Command kubebench measures Isthmus on real Kubernetes API servers: two
// clusters (kube-apiserver and etcd from deploy/kubeharness), a generated
// mesh of pods and EndpointSlices in each, Istio's routing config as custom
// resources in the first, `isthmus serve` on both, simulated sidecars
// connected over delta xDS, then EndpointSlice churn at a fixed rate and a
// series of VirtualService edits, each timed from the API write returning
// to the sidecars' ACK. See bench/kubebench.
//
//	go run ./bench/cmd/kubebench                     # a quick run, about a minute on 2 CPUs
//	go run ./bench/cmd/kubebench --pods-per-cluster 2500 --churn 50 --proxies 1000 --duration 60s
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
	"slices"
	"strings"

	"github.com/isthmus-mesh/isthmus/bench/kubebench"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

const usage = `Usage: go run ./bench/cmd/kubebench [flags]

Starts two Kubernetes API servers (aws: Service CIDR 10.96.0.0/16, the
config cluster; gcp: 10.97.0.0/16), writes a generated mesh into each
(Namespaces, ServiceAccounts, Services, Pods with their status,
EndpointSlices; DestinationRules, VirtualServices and Sidecars as Istio
custom resources in aws), runs isthmus serve built from this tree on both,
connects simulated sidecars spread over the namespaces and both clusters,
then churns EndpointSlices (the clusters taking turns) and edits
VirtualServices. It prints the figures as Markdown: per phase the p50, p90,
p99 and max time from the API write returning to each concerned sidecar's
ACK, and Isthmus's CPU and peak RSS. The Kubernetes binary comes from
` + "`make kube-bins`" + `.

Flags:
`

// loadGeneratorGOGC: the sidecars share the machine's cores with Isthmus
// and the API servers; memory is cheaper than their GC's CPU (as xdsload).
const loadGeneratorGOGC = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(loadGeneratorGOGC)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// cli are the flags beyond kubebench.Options.
type cli struct {
	out         string
	workDir     string
	keep        bool
	sotw        bool
	isthmusArgs string
	verbose     bool
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kubebench: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	work, cleanup, err := prepare(&opts, c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kubebench: %v\n", err)
		return 1
	}
	report, err := kubebench.Run(ctx, opts)
	cleanup(err != nil)
	if report == nil {
		fmt.Fprintf(stderr, "kubebench: %v (work directory %s)\n", err, work)
		return 1
	}
	fmt.Fprintf(stdout, "```\ngo run ./bench/cmd/kubebench %s\n```\n\n", strings.Join(args, " "))
	fmt.Fprintf(stdout, "Machine: %s; load average %s at the start, %s at the end.\n\n", report.Machine, report.LoadStart, report.LoadEnd)
	if werr := report.WriteMarkdown(stdout); werr != nil {
		fmt.Fprintf(stderr, "kubebench: %v\n", werr)
		return 1
	}
	if c.out != "" {
		if werr := writeJSON(c.out, report); werr != nil {
			fmt.Fprintf(stderr, "kubebench: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "kubebench: %v (work directory %s)\n", err, work)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (kubebench.Options, cli, error) {
	opts := kubebench.DefaultOptions()
	var c cli
	fs := flag.NewFlagSet("kubebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&opts.PodsPerCluster, "pods-per-cluster", opts.PodsPerCluster, "pods in each cluster (the issue's size: 2500)")
	fs.IntVar(&opts.EndpointsPerService, "endpoints", opts.EndpointsPerService, "pods per service")
	fs.IntVar(&opts.Namespaces, "namespaces", opts.Namespaces, "namespaces (0: one per 10 services)")
	fs.IntVar(&opts.Proxies, "proxies", opts.Proxies, "simulated sidecars (the issue's size: 1000)")
	fs.BoolVar(&c.sotw, "sotw", false, "state-of-the-world xDS instead of delta")
	fs.StringVar(&opts.Auth, "auth", kubebench.AuthPlaintext, "how the sidecars connect: plaintext (identities unproven), certs (the secure port, client certificates) or tokens (the secure port, service-account tokens reviewed by TokenReview)")
	fs.Float64Var(&opts.ConnectRate, "connect-rate", opts.ConnectRate, "sidecars connecting per second (0: all at once)")
	fs.Float64Var(&opts.Churn, "churn", opts.Churn, "EndpointSlice changes per second, over both clusters")
	fs.DurationVar(&opts.Duration, "duration", opts.Duration, "how long the churn lasts")
	fs.IntVar(&opts.Writers, "writers", opts.Writers, "API writes in flight at once (churn and population)")
	fs.IntVar(&opts.VSEdits, "vs-edits", opts.VSEdits, "VirtualService edits after the churn (0: none)")
	fs.DurationVar(&opts.VSInterval, "vs-interval", opts.VSInterval, "time between VirtualService edits")
	fs.DurationVar(&opts.ConfigTimeout, "config-timeout", opts.ConfigTimeout, "how long the connect storm waits for every sidecar's full config")
	fs.DurationVar(&opts.SettleTimeout, "settle-timeout", opts.SettleTimeout, "how long a phase waits for its last changes to reach every sidecar")
	fs.DurationVar(&opts.SetupTimeout, "setup-timeout", opts.SetupTimeout, "bound on starting and populating the clusters and starting Isthmus")
	kubeQPS := fs.Float64("kube-qps", float64(opts.KubeQPS), "the benchmark's API client QPS per cluster")
	fs.IntVar(&opts.KubeBurst, "kube-burst", opts.KubeBurst, "the benchmark's API client burst per cluster")
	fs.StringVar(&opts.IsthmusBin, "isthmus-bin", "", "isthmus binary (default: build ./cmd/isthmus into the work directory)")
	fs.StringVar(&c.isthmusArgs, "isthmus-args", "", "extra isthmus serve flags, space-separated (e.g. \"--memory-limit 430MiB\")")
	fs.StringVar(&c.workDir, "work-dir", "", "directory for the clusters, Isthmus's log and state (default: a temporary one, removed unless the run fails or --keep)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory")
	fs.StringVar(&c.out, "out", "", "also write the JSON report to this file")
	fs.StringVar(&opts.ProfileDir, "profile-dir", "", "record Isthmus's CPU profile over the churn and heap profiles into this directory")
	fs.BoolVar(&c.verbose, "v", false, "log the setup's events")
	if err := fs.Parse(args); err != nil {
		return opts, c, err
	}
	if fs.NArg() > 0 {
		return opts, c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts.Delta = !c.sotw
	if !slices.Contains([]string{kubebench.AuthPlaintext, kubebench.AuthCerts, kubebench.AuthTokens}, opts.Auth) {
		return opts, c, fmt.Errorf("--auth %q: want plaintext, certs or tokens", opts.Auth)
	}
	opts.KubeQPS = float32(*kubeQPS)
	opts.IsthmusArgs = strings.Fields(c.isthmusArgs)
	opts.Progress = stderr
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return opts, c, nil
}

// prepare makes the work directory and builds Isthmus into it unless a
// binary was given. cleanup removes the directory unless it was given,
// kept, or the run failed.
func prepare(opts *kubebench.Options, c cli, stderr io.Writer) (string, func(failed bool), error) {
	dir, made := c.workDir, false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "isthmus-kubebench-"); err != nil {
			return "", nil, fmt.Errorf("work directory: %w", err)
		}
		made = true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("work directory: %w", err)
	}
	opts.WorkDir = dir
	cleanup := func(failed bool) {
		if !made || c.keep || failed {
			fmt.Fprintf(stderr, "kubebench: work directory kept: %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}
	if opts.IsthmusBin == "" {
		fmt.Fprintln(stderr, "kubebench: building isthmus…")
		bin, err := localmesh.BuildIsthmus(dir)
		if err != nil {
			cleanup(true)
			return dir, nil, err
		}
		opts.IsthmusBin = bin
	}
	return dir, cleanup, nil
}

func writeJSON(file string, report *kubebench.Report) error {
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
