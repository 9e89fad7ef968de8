package kubebench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// Options configure a run. DefaultOptions is a quick run; the issue's
// size is PodsPerCluster 2500, Proxies 1000, Churn 50, Duration 60s.
// How sidecars connect (Options.Auth).
const (
	AuthPlaintext = "plaintext"
	AuthCerts     = "certs"
	AuthTokens    = "tokens"
)

type Options struct {
	// IsthmusBin is the isthmus binary to run (see localmesh.BuildIsthmus).
	IsthmusBin string
	// IsthmusArgs are appended to `isthmus serve`'s command line.
	IsthmusArgs []string
	// Auth is how the sidecars connect: AuthPlaintext (the plaintext port,
	// identities unproven), AuthCerts (the secure port, each with a client
	// certificate of its identity) or AuthTokens (the secure port, each
	// with its service account's token, which Isthmus reviews with the
	// TokenReview API of its cluster).
	Auth string
	// WorkDir holds the clusters' scratch directories and Isthmus's log
	// and state; it must exist.
	WorkDir string

	// PodsPerCluster is how many pods (endpoints) each cluster holds:
	// ceil(PodsPerCluster / EndpointsPerService) services, the same
	// services in both clusters.
	PodsPerCluster      int
	EndpointsPerService int
	// Namespaces spreads the services; 0 is one namespace per 10 services.
	Namespaces int

	// Proxies is the number of simulated sidecars, spread over the
	// namespaces and the two clusters; Delta selects incremental xDS.
	Proxies     int
	Delta       bool
	ConnectRate float64 // proxies per second; 0 connects all at once

	// Churn is how many EndpointSlice changes per second are written, the
	// clusters taking turns, for Duration; Writers bounds how many are in
	// flight at once.
	Churn    float64
	Duration time.Duration
	Writers  int

	// VSEdits VirtualService edits are written to the config cluster, one
	// every VSInterval, after the churn.
	VSEdits    int
	VSInterval time.Duration

	// ConfigTimeout bounds the connect storm, SettleTimeout the wait for
	// the last changes of a phase to reach every sidecar, SetupTimeout the
	// start of the clusters, their population and Isthmus's start.
	ConfigTimeout time.Duration
	SettleTimeout time.Duration
	SetupTimeout  time.Duration

	// KubeQPS and KubeBurst pace the benchmark's own API clients (the
	// population and the churn), per cluster.
	KubeQPS   float32
	KubeBurst int

	// ProfileDir, when set, receives Isthmus's CPU profile over the churn
	// (cpu-endpoint-churn.pprof) and heap profiles after the connect storm
	// and at the end, from its /debug/pprof.
	ProfileDir string

	// Progress receives progress lines (nil for none); Logger the setup's
	// events (nil: discarded).
	Progress io.Writer
	Logger   *slog.Logger
}

// DefaultOptions is a quick run (about a minute on 2 CPUs):
// 2 × 300 pods, 100 sidecars, 50 changes/s for 20 s, 20 VirtualService
// edits a second apart.
func DefaultOptions() Options {
	return Options{
		PodsPerCluster:      300,
		EndpointsPerService: 3,
		Proxies:             100,
		Delta:               true,
		Churn:               50,
		Duration:            20 * time.Second,
		Writers:             16,
		VSEdits:             20,
		VSInterval:          time.Second,
		ConfigTimeout:       5 * time.Minute,
		SettleTimeout:       30 * time.Second,
		SetupTimeout:        15 * time.Minute,
		KubeQPS:             1000,
		KubeBurst:           2000,
	}
}

// maxServices keeps every service's endpoint addresses (10.HI.LO.x, and
// 10.(128+HI).LO.x in the second cluster) out of each other's way and out
// of the clusters' Service CIDRs (10.96.0.0/16, 10.97.0.0/16).
const maxServices = 96 << 8

// validate reports options that cannot run.
func (o *Options) validate() error {
	var errs []error
	if o.IsthmusBin == "" {
		errs = append(errs, errors.New("no isthmus binary"))
	}
	if o.WorkDir == "" {
		errs = append(errs, errors.New("no work directory"))
	}
	if o.EndpointsPerService < 2 || o.EndpointsPerService > 100 {
		errs = append(errs, fmt.Errorf("endpoints per service %d: want 2..100 (one moves, the others carry the sidecars' addresses)", o.EndpointsPerService))
	} else if s := o.services(); o.PodsPerCluster < 1 || s > maxServices {
		errs = append(errs, fmt.Errorf("pods per cluster %d: want 1..%d at %d per service", o.PodsPerCluster, maxServices*o.EndpointsPerService, o.EndpointsPerService))
	} else if o.Namespaces < 0 || o.Namespaces > s {
		errs = append(errs, fmt.Errorf("namespaces %d: want 0 (one per 10 services) up to the services (%d)", o.Namespaces, s))
	}
	if o.Proxies < 1 {
		errs = append(errs, fmt.Errorf("proxies %d: want at least 1", o.Proxies))
	}
	if o.Churn <= 0 || o.Duration <= 0 || o.Writers < 1 {
		errs = append(errs, fmt.Errorf("churn %g/s for %v with %d writers: want a positive rate, duration and writers", o.Churn, o.Duration, o.Writers))
	}
	if o.VSEdits < 0 || (o.VSEdits > 0 && o.VSInterval <= 0) {
		errs = append(errs, fmt.Errorf("%d VirtualService edits every %v: want 0 or more at a positive interval", o.VSEdits, o.VSInterval))
	}
	if o.ConfigTimeout <= 0 || o.SettleTimeout <= 0 || o.SetupTimeout <= 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	if o.KubeQPS <= 0 || o.KubeBurst < 1 {
		errs = append(errs, fmt.Errorf("kube QPS %g burst %d: want positive", o.KubeQPS, o.KubeBurst))
	}
	return errors.Join(errs...)
}

// services is the number of services per cluster.
func (o Options) services() int {
	return (o.PodsPerCluster + o.EndpointsPerService - 1) / o.EndpointsPerService
}

// Spec is the mesh each cluster holds: the generated services with 3
// subsets, an 80/20 VirtualService each, and a Sidecar per namespace
// keeping each sidecar's egress to its namespace (and istio-system).
func (o Options) Spec() meshgen.Spec {
	spec := meshgen.DefaultSpec()
	spec.Services = o.services()
	spec.Namespaces = o.Namespaces
	if spec.Namespaces == 0 {
		spec.Namespaces = max(1, (spec.Services+9)/10)
	}
	spec.EndpointsPerService = o.EndpointsPerService
	spec.Subsets = 3
	spec.VirtualServicesPerNamespace = meshgen.AllServices
	spec.Sidecars = true
	spec.Kubernetes = true
	return spec
}
