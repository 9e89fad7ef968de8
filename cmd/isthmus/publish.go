package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	versioned "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/rest"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/policy/crd"
	"github.com/isthmus-mesh/isthmus/xds/server"
)

// Publishing: a change of a source or registry is published once quiet
// for assembleQuiet (at most assembleMaxWait after the first); the server
// debounces pushes to proxies on its own. Sources are waited for at most
// sourceSyncWait before the first snapshot is published without them.
const (
	assembleQuiet   = 5 * time.Millisecond
	assembleMaxWait = 50 * time.Millisecond
	sourceSyncWait  = 30 * time.Second
)

// inClusterConfig is the --config-kubeconfig value that means the
// in-cluster configuration of a pod.
const inClusterConfig = "in-cluster"

var _ assemble.Sink = (*server.Server)(nil)

// startConfigSources adds to a, in order of precedence, the files of
// --config-dir (re-read on SIGHUP) and the custom resources of
// --config-kubeconfig, and starts them. A config cluster whose kubeconfig
// cannot be used is logged, naming it, and left out.
func startConfigSources(ctx context.Context, opts serveOptions, a *assemble.Assembler, logger *slog.Logger) {
	if opts.configDir != "" {
		files := policy.NewFileSource(opts.configDir, logger, opts.limits())
		stop := reloadOnSignal(ctx, files, logger)
		context.AfterFunc(ctx, stop)
		files.Start(ctx)
		a.AddSource(files)
	}
	if opts.configKubeconfig == "" {
		return
	}
	src, err := newCRDSource(opts, logger)
	if err != nil {
		logger.Error("config cluster left out: its kubeconfig cannot be used", "cluster", opts.configClusterID, "error", err)
		return
	}
	go func() {
		if err := src.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("Istio configuration of the config cluster not listed", "cluster", opts.configClusterID, "error", err)
		}
	}()
	a.AddSource(src)
}

// newCRDSource is the source of the config cluster's Istio custom
// resources.
func newCRDSource(opts serveOptions, logger *slog.Logger) (*crd.Source, error) {
	cfg, err := restConfig(opts.configKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--config-kubeconfig: %w", err)
	}
	client, err := versioned.NewForConfig(kube.WithClientRate(cfg))
	if err != nil {
		return nil, fmt.Errorf("--config-kubeconfig %s: Istio client for %s: %w", opts.configKubeconfig, cfg.Host, err)
	}
	return crd.New(client, crd.Options{Cluster: opts.configClusterID, Namespaces: opts.watchNamespaces,
		WriteStatus: opts.writeStatus, Logger: logger}), nil
}

// restConfig loads a kubeconfig file, or the pod's in-cluster configuration
// for inClusterConfig.
func restConfig(path string) (*rest.Config, error) {
	if path == inClusterConfig {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		return cfg, nil
	}
	return kube.LoadKubeconfig(path, "")
}

// limits are the size caps --max-file-size and --max-document-size give.
func (o serveOptions) limits() policy.Limits {
	return policy.Limits{MaxFileBytes: int64(o.maxFileSize), MaxDocumentBytes: int64(o.maxDocumentSize)}
}
