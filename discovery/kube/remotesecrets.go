package kube

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Istio's remote secrets: Secrets in its system namespace labelled
// istio/multiCluster=true, each data key a cluster ID and its value the
// kubeconfig of that cluster.
const (
	RemoteSecretLabel      = "istio/multiCluster"
	DefaultSystemNamespace = "istio-system"
)

// RemoteSecrets keeps a ClusterSet's remote clusters as Istio's remote
// secrets say.
type RemoteSecrets struct {
	ctx       context.Context
	set       *ClusterSet
	log       *slog.Logger
	newClient func(*rest.Config) (kubernetes.Interface, error)
	synced    cache.InformerSynced
	done      chan struct{}

	mu       sync.Mutex               // one secret at a time
	clusters map[string]remoteCluster // by cluster ID
}

// remoteCluster is a cluster a secret gave.
type remoteCluster struct {
	secret     string // namespace/name
	kubeconfig []byte // in use
}

// WatchRemoteSecrets watches the remote secrets of namespace
// (DefaultSystemNamespace when empty) through client, until ctx ends, and
// keeps set's remote clusters as they say: a secret's keys are added, a
// changed kubeconfig restarts its cluster with it (ClusterSet.Replace), a
// key or secret gone removes its cluster. A key whose kubeconfig does not
// parse or is not self-contained (see RemoteConfig), or whose cluster ID
// the set has from elsewhere (a flag, another secret), is logged at WARN
// and skipped; a bad new kubeconfig for a running cluster leaves it on its
// previous credentials. It returns at once.
func WatchRemoteSecrets(ctx context.Context, client kubernetes.Interface, namespace string, set *ClusterSet) (*RemoteSecrets, error) {
	return watchRemoteSecrets(ctx, client, namespace, set, func(cfg *rest.Config) (kubernetes.Interface, error) {
		return NewClient(cfg)
	})
}

func watchRemoteSecrets(ctx context.Context, client kubernetes.Interface, namespace string, set *ClusterSet,
	newClient func(*rest.Config) (kubernetes.Interface, error)) (*RemoteSecrets, error) {
	if namespace == "" {
		namespace = DefaultSystemNamespace
	}
	w := &RemoteSecrets{ctx: ctx, set: set, log: set.opts.Logger, newClient: newClient,
		done: make(chan struct{}), clusters: map[string]remoteCluster{}}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = RemoteSecretLabel + "=true" }))
	reg, err := f.Core().V1().Secrets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.apply(obj) },
		UpdateFunc: func(_, obj any) { w.apply(obj) },
		DeleteFunc: func(obj any) { w.deleted(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("remote secrets of %s: %w", namespace, err)
	}
	w.synced = reg.HasSynced
	f.Start(ctx.Done())
	go func() {
		<-ctx.Done()
		f.Shutdown()
		close(w.done)
	}()
	return w, nil
}

// HasSynced reports whether the secrets present at the start have been
// read (their clusters added, not necessarily listed).
func (w *RemoteSecrets) HasSynced() bool { return w.synced() }

// WaitForSync blocks until HasSynced or ctx ends, reporting which.
func (w *RemoteSecrets) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), w.synced)
}

// Done is closed once the watch has stopped, after its context ended.
func (w *RemoteSecrets) Done() <-chan struct{} { return w.done }

// apply follows an added or changed secret.
func (w *RemoteSecrets) apply(obj any) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	name := secret.Namespace + "/" + secret.Name
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range w.clusterIDs(name) {
		if _, kept := secret.Data[id]; !kept {
			w.remove(name, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(secret.Data)) {
		w.applyKey(name, id, secret.Data[id])
	}
}

// applyKey adds or re-credentials cluster id as secret's key says.
func (w *RemoteSecrets) applyKey(secret, id string, kubeconfig []byte) {
	prev, owned := w.clusters[id]
	switch {
	case owned && prev.secret != secret:
		w.skip(secret, id, "cluster ID already given by secret "+prev.secret)
		return
	case owned && bytes.Equal(prev.kubeconfig, kubeconfig):
		return
	case !owned:
		if has, _ := w.set.Has(id); has {
			w.skip(secret, id, "cluster ID already given by flag")
			return
		}
	}
	cfg, client, err := w.client(kubeconfig)
	if err != nil {
		reason := err.Error()
		if owned {
			reason += "; the cluster keeps its previous credentials"
		}
		w.skip(secret, id, reason)
		return
	}
	if owned {
		err = w.set.ReplaceClient(w.ctx, id, client)
	} else {
		err = w.set.add(w.ctx, id, client, true)
	}
	if err != nil {
		w.skip(secret, id, err.Error())
		return
	}
	w.clusters[id] = remoteCluster{secret: secret, kubeconfig: kubeconfig}
	w.log.Info("remote cluster watched", "secret", secret, "cluster", id, "server", cfg.Host, "new_credentials", owned)
}

func (w *RemoteSecrets) client(kubeconfig []byte) (*rest.Config, kubernetes.Interface, error) {
	cfg, err := RemoteConfig(kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	client, err := w.newClient(cfg)
	return cfg, client, err
}

func (w *RemoteSecrets) skip(secret, key, reason string) {
	w.log.Warn("remote secret key ignored", "secret", secret, "key", key, "reason", reason)
}

// deleted removes the clusters of a deleted secret (or one that lost its
// label).
func (w *RemoteSecrets) deleted(obj any) {
	name, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range w.clusterIDs(name) {
		w.remove(name, id)
	}
}

// clusterIDs lists the clusters secret gave, sorted.
func (w *RemoteSecrets) clusterIDs(secret string) []string {
	var out []string
	for id, rc := range w.clusters {
		if rc.secret == secret {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (w *RemoteSecrets) remove(secret, id string) {
	delete(w.clusters, id)
	w.set.Remove(id)
	w.log.Info("remote cluster removed", "secret", secret, "cluster", id)
}
