package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
)

// defaultClusterID is the cluster id of a --kubeconfig without one, as
// Istio's default CLUSTER_ID.
const defaultClusterID = "Kubernetes"

// defaultConfigClusterID names the config cluster (--config-kubeconfig).
const defaultConfigClusterID = "config"

// namespacesFlag is a comma-separated list of namespaces.
type namespacesFlag []string

func (f *namespacesFlag) String() string { return strings.Join(*f, ",") }

func (f *namespacesFlag) Set(s string) error {
	for _, ns := range strings.Split(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			*f = append(*f, ns)
		}
	}
	return nil
}

// clusterSyncWait bounds how long serve waits for the clusters' first full
// listing before serving what it has; later listings are pushed as they
// come.
const clusterSyncWait = 30 * time.Second

// kubeconfigFlag collects repeated --kubeconfig [CLUSTER_ID=]PATH flags.
type kubeconfigFlag []kubeconfig

type kubeconfig struct{ clusterID, path string }

func (f *kubeconfigFlag) String() string { return "" }

func (f *kubeconfigFlag) Set(s string) error {
	id, path, found := strings.Cut(s, "=")
	if !found {
		id, path = defaultClusterID, s
	}
	if id == "" || path == "" {
		return fmt.Errorf("%q: want [CLUSTER_ID=]PATH", s)
	}
	for _, k := range *f {
		if k.clusterID == id {
			return fmt.Errorf("cluster id %q given twice", id)
		}
	}
	*f = append(*f, kubeconfig{clusterID: id, path: path})
	return nil
}

// startClusters watches each cluster's services and endpoints, adding them
// to a, and waits (a bounded time) for their first full listing. A cluster
// whose kubeconfig cannot be loaded is logged, naming it, and left out.
func startClusters(ctx context.Context, kubeconfigs kubeconfigFlag, a *assemble.Assembler, logger *slog.Logger) error {
	if len(kubeconfigs) == 0 {
		return nil
	}
	klog.SetSlogLogger(logger.With("component", "client-go"))
	var registries []*kube.Registry
	for _, k := range kubeconfigs {
		r, err := kube.NewFromKubeconfig(k.path, kube.Options{ClusterID: k.clusterID, Logger: logger})
		if err != nil {
			logger.Error("cluster left out: its kubeconfig cannot be used; the other clusters and sources are served",
				"cluster", k.clusterID, "kubeconfig", k.path, "error", err)
			continue
		}
		registries = append(registries, r)
		a.AddRegistry(r)
		go func() {
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				logger.Error("cluster watch stopped; serving its last services", "cluster", k.clusterID, "error", err)
			}
		}()
	}
	waitForClusters(ctx, registries, logger)
	return nil
}

func waitForClusters(ctx context.Context, registries []*kube.Registry, logger *slog.Logger) {
	wait, cancel := context.WithTimeout(ctx, clusterSyncWait)
	defer cancel()
	for _, r := range registries {
		if err := r.WaitForSync(wait); err != nil {
			logger.Warn("cluster not listed yet; serving without it until it is", "cluster", r.Name(), "error", err)
			continue
		}
		logger.Info("cluster listed", "cluster", r.Name(), "services", len(r.Catalog().Services()))
	}
}
