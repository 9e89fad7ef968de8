// Command meshgen writes a synthetic Istio mesh (ServiceEntries, endpoints,
// DestinationRules, VirtualServices, Sidecars) into a directory, for
// `isthmus serve --config-dir` and the xdsload benchmark. With --kubeconfig
// the services and endpoints go to a Kubernetes API server instead
// (Namespaces, ServiceAccounts, Services, Pods, EndpointSlices), and the
// directory holds only the routing config.
//
//	go run ./bench/cmd/meshgen --out /tmp/mesh --services 1000 --namespaces 100
//	go run ./bench/cmd/meshgen --out /tmp/mesh --kubeconfig ~/.kube/config --services 1000 --namespaces 100
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

const usage = `Usage: meshgen --out DIR [--kubeconfig PATH [--istio-crds]] [mesh flags]

Writes M services in K namespaces with P endpoints each, DestinationRule
subsets, 80/20 VirtualServices and one Sidecar per namespace as Istio YAML
into DIR.

File mode (no --kubeconfig): every service is a ServiceEntry with its
endpoints (inline or WorkloadEntries) in DIR/ns-J/svc-I.yaml.

Kubernetes mode (--kubeconfig): services and endpoints are applied to the
API server (Namespaces, ServiceAccounts, selector-less Services with cluster
IP 240.240.HI.LO, Pods gated from scheduling with their IP set in status,
EndpointSlices); DIR gets only DestinationRules, VirtualServices and
Sidecars, for isthmus serve --config-dir DIR --kubeconfig PATH. A real API
server needs a service CIDR that contains 240.240.0.0/16 without starting
or ending there (240.240.0.0 is service 0's VIP, and no range's network
address is handed out), e.g. a ServiceCIDR object for 240.0.0.0/8.
Applying is create or update: rerunning with the same flags changes
nothing. --istio-crds also
applies the routing config as Istio custom resources (CRDs installed), for
control planes that read it from the API server.

DIR must be empty, absent, or hold the mesh of the same flags (a rerun).

Flags:
`

// cliOptions are the flags beyond the mesh shape.
type cliOptions struct {
	out         string
	kubeconfig  string
	kubeContext string
	istioCRDs   bool
	qps         float64
	burst       int
	workers     int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var opts cliOptions
	fs.StringVar(&opts.out, "out", "", "directory to write the mesh into (empty, absent, or holding the same mesh)")
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig of the API server to apply services and endpoints to (Kubernetes mode)")
	fs.StringVar(&opts.kubeContext, "kube-context", "", "kubeconfig context (default: its current context)")
	fs.BoolVar(&opts.istioCRDs, "istio-crds", false, "Kubernetes mode: also apply DestinationRules, VirtualServices and Sidecars as Istio custom resources")
	fs.Float64Var(&opts.qps, "kube-qps", 100, "Kubernetes mode: API requests per second")
	fs.IntVar(&opts.burst, "kube-burst", 200, "Kubernetes mode: API request burst")
	fs.IntVar(&opts.workers, "kube-workers", meshgen.DefaultKubeWorkers, "Kubernetes mode: services applied concurrently")
	spec := meshgen.DefaultSpec()
	spec.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.out == "" {
		fmt.Fprintln(stderr, "meshgen: --out is required")
		return 2
	}
	if opts.istioCRDs && opts.kubeconfig == "" {
		fmt.Fprintln(stderr, "meshgen: --istio-crds needs --kubeconfig")
		return 2
	}
	spec.Kubernetes = opts.kubeconfig != ""
	if err := generate(opts, spec, stderr); err != nil {
		fmt.Fprintf(stderr, "meshgen: %v\n", err)
		return 1
	}
	where := opts.out
	if spec.Kubernetes {
		where = fmt.Sprintf("%s (routing config) and %s (services, %d pods)", opts.out, opts.kubeconfig, spec.Services*spec.EndpointsPerService)
	}
	fmt.Fprintf(stdout, "wrote %d services in %d namespaces to %s\n", spec.Services, spec.Namespaces, where)
	return 0
}

// generate applies the mesh to the API server (Kubernetes mode), then
// writes the directory.
func generate(opts cliOptions, spec meshgen.Spec, stderr io.Writer) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("mesh spec: %w", err)
	}
	if err := checkOut(opts.out, spec); err != nil {
		return err
	}
	if spec.Kubernetes {
		if err := applyToKubernetes(opts, spec, stderr); err != nil {
			return err
		}
	}
	return meshgen.Write(opts.out, spec)
}

func applyToKubernetes(opts cliOptions, spec meshgen.Spec, stderr io.Writer) error {
	cfg, err := meshgen.LoadKubeconfig(opts.kubeconfig, opts.kubeContext)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(opts.qps), opts.burst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	kopts := meshgen.KubeOptions{Workers: opts.workers, Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if opts.istioCRDs {
		if kopts.Istio, err = dynamic.NewForConfig(cfg); err != nil {
			return fmt.Errorf("dynamic client: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return meshgen.NewKubeMesh(client, kopts).Apply(ctx, spec)
}

// checkOut accepts an empty or absent directory, or one holding the mesh
// of the same spec (a rerun rewrites the same files).
func checkOut(dir string, spec meshgen.Spec) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if prev, err := meshgen.ReadSpec(dir); err == nil && prev == spec {
		return nil
	}
	return fmt.Errorf("%s is not empty and holds no mesh of these flags (%s); choose a new directory",
		dir, filepath.Join(dir, meshgen.SpecFile))
}
