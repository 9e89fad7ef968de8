package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
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

// listFlag is a comma-separated list (namespaces, DNS names).
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }

func (f *listFlag) Set(s string) error {
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

// clustersStateDir is where, under the state directory, each cluster's
// last listed services and endpoints are kept.
const clustersStateDir = "clusters"

// startClusters makes the clusters of --kubeconfig, and (with a config
// cluster) those of Istio's remote secrets, one ClusterSet added to a. Each cluster's last listed state is kept under
// --state-dir and served, stale, until the cluster is listed again, so a
// restart during one cluster's outage keeps its endpoints. A cluster whose
// kubeconfig cannot be loaded is logged, naming it, and left out. It waits
// at most clusterSyncWait for the clusters without a state to be listed.
func startClusters(ctx context.Context, opts serveOptions, a *assemble.Assembler, logger *slog.Logger) *kube.ClusterSet {
	if len(opts.kubeconfigs) == 0 && (opts.configKubeconfig == "" || !opts.remoteSecrets) {
		return nil
	}
	klog.SetSlogLogger(logger.With("component", "client-go"))
	set, err := kube.NewClusterSet(kube.Options{Logger: logger, StateDir: clusterState(opts, logger)})
	if err != nil {
		logger.Error("no Kubernetes clusters", "error", err)
		return nil
	}
	context.AfterFunc(ctx, set.Close)
	for _, k := range opts.kubeconfigs {
		addCluster(ctx, set, k, logger)
	}
	if opts.configKubeconfig != "" && opts.remoteSecrets {
		watchRemoteSecrets(ctx, opts, set, logger)
	}
	a.AddRegistry(set)
	waitForClusters(ctx, set, logger)
	return set
}

// clusterState is the directory of the clusters' state files, "" (none)
// when there is no usable state directory.
func clusterState(opts serveOptions, logger *slog.Logger) string {
	if opts.stateDir == "" {
		return ""
	}
	if err := prepareStateDir(opts.stateDir); err != nil {
		logger.Error("clusters' last state not kept: the state directory cannot be used", "error", err)
		return ""
	}
	return filepath.Join(opts.stateDir, clustersStateDir)
}

// addCluster adds the cluster of one --kubeconfig to set; the path
// "in-cluster" is the pod's own cluster.
func addCluster(ctx context.Context, set *kube.ClusterSet, k kubeconfig, logger *slog.Logger) {
	cfg, err := restConfig(k.path)
	if err == nil {
		err = set.Add(ctx, k.clusterID, cfg)
	}
	if err != nil {
		logger.Error("cluster left out: its kubeconfig cannot be used; the other clusters and sources are served",
			"cluster", k.clusterID, "kubeconfig", k.path, "error", err)
	}
}

// watchRemoteSecrets adds, changes and removes the clusters of the remote
// secrets in the config cluster's --system-namespace.
func watchRemoteSecrets(ctx context.Context, opts serveOptions, set *kube.ClusterSet, logger *slog.Logger) {
	client, err := configClient(opts)
	if err == nil {
		_, err = kube.WatchRemoteSecrets(ctx, client, opts.systemNamespace, set)
	}
	if err != nil {
		logger.Error("remote secrets not read", "cluster", opts.configClusterID, "namespace", opts.systemNamespace, "error", err)
	}
}

// waitForClusters waits, at most clusterSyncWait, until every cluster is
// listed or served from its last state.
func waitForClusters(ctx context.Context, set *kube.ClusterSet, logger *slog.Logger) {
	deadline := time.Now().Add(clusterSyncWait)
	for {
		waiting := clustersWaitedFor(set.Statuses())
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			logger.Warn("clusters not listed yet; serving without them until they are", "clusters", waiting)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clustersWaitedFor are the clusters neither listed nor served from state.
func clustersWaitedFor(statuses []kube.Status) []string {
	var out []string
	for _, s := range statuses {
		if !s.Synced && !s.FromState {
			out = append(out, s.Cluster)
		}
	}
	return out
}
