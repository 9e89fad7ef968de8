package kube

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// watches are the informers of one cluster and the builder reading them.
type watches struct {
	factory informers.SharedInformerFactory
	builder builder
	synced  []cache.InformerSynced
}

// newWatches sets up informers (no resync) on Services, EndpointSlices,
// Pods, Nodes and Namespaces. Each event calls changed, unless it changes
// nothing the catalog reads. Every failed list or watch request, and every
// error an informer's reflector reports, calls trouble; so does a refused
// connection, which a reflector retries without reporting it.
func newWatches(client kubernetes.Interface, opts Options, changed func(), trouble func(context.Context, error)) (*watches, error) {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(slim))
	observe := func(obj runtime.Object, lw *cache.ListWatch) cache.SharedIndexInformer {
		return f.InformerFor(obj, func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
			return observedInformer(client, obj, lw, trouble)
		})
	}
	core, disc := client.CoreV1(), client.DiscoveryV1()
	handlers := []struct {
		kind     string
		informer cache.SharedIndexInformer
		relevant func(old, new any) bool
	}{
		{"services", observe(&corev1.Service{}, listWatch(core.Services("").List, core.Services("").Watch)), anyUpdate},
		{"endpointslices", observe(&discoveryv1.EndpointSlice{}, listWatch(disc.EndpointSlices("").List, disc.EndpointSlices("").Watch)), anyUpdate},
		{"pods", observe(&corev1.Pod{}, listWatch(core.Pods("").List, core.Pods("").Watch)), podUpdate},
		{"nodes", observe(&corev1.Node{}, listWatch(core.Nodes().List, core.Nodes().Watch)), labelUpdate},
		{"namespaces", observe(&corev1.Namespace{}, listWatch(core.Namespaces().List, core.Namespaces().Watch)), labelUpdate},
	}
	w := &watches{factory: f, builder: builder{
		lookups: lookups{
			pods:       f.Core().V1().Pods().Lister(),
			nodes:      f.Core().V1().Nodes().Lister(),
			namespaces: f.Core().V1().Namespaces().Lister(),
			opts:       opts,
		},
		services: f.Core().V1().Services().Lister(),
		slices:   f.Discovery().V1().EndpointSlices().Lister(),
	}}
	for _, h := range handlers {
		reg, err := h.informer.AddEventHandler(eventHandler(h.relevant, changed))
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", h.kind, err)
		}
		w.synced = append(w.synced, reg.HasSynced)
	}
	return w, nil
}

// listWatch adapts a typed client's List and Watch.
func listWatch[L runtime.Object](
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := list(ctx, o)
			if err != nil {
				return nil, err
			}
			return l, nil
		},
		WatchFuncWithContext: watchFn,
	}
}

// observedInformer is an informer (as the factory would make it) whose
// list and watch errors, and its reflector's, go to trouble.
func observedInformer(client kubernetes.Interface, obj runtime.Object, lw *cache.ListWatch, trouble func(context.Context, error)) cache.SharedIndexInformer {
	list, watchFn := lw.ListWithContextFunc, lw.WatchFuncWithContext
	observed := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l, err := list(ctx, o)
			if err != nil {
				trouble(ctx, err)
			}
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := watchFn(ctx, o)
			if err != nil {
				trouble(ctx, err)
			}
			return w, err
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(observed, client), obj,
		cache.SharedIndexInformerOptions{Indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}})
	// Not started yet, so this cannot fail.
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) { trouble(ctx, err) })
	return inf
}

func eventHandler(relevant func(old, new any) bool, changed func()) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { changed() },
		UpdateFunc: func(old, new any) {
			if relevant(old, new) {
				changed()
			}
		},
		DeleteFunc: func(any) { changed() },
	}
}

func anyUpdate(_, _ any) bool { return true }

// podUpdate: only a pod's labels, node and service account reach the
// catalog; status updates do not.
func podUpdate(old, new any) bool {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := new.(*corev1.Pod)
	return !ok1 || !ok2 || !maps.Equal(o.Labels, n.Labels) ||
		o.Spec.NodeName != n.Spec.NodeName || o.Spec.ServiceAccountName != n.Spec.ServiceAccountName
}

// labelUpdate: only the labels of nodes and namespaces reach the catalog.
func labelUpdate(old, new any) bool {
	o, ok1 := old.(metav1.Object)
	n, ok2 := new.(metav1.Object)
	return !ok1 || !ok2 || !maps.Equal(o.GetLabels(), n.GetLabels())
}

// slim keeps only what the catalog reads of pods, nodes and namespaces, and
// drops managed fields from services and slices, so the caches of a large
// cluster stay small. It makes new objects and is idempotent.
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &corev1.Pod{
			ObjectMeta: slimMeta(o.ObjectMeta),
			Spec:       corev1.PodSpec{NodeName: o.Spec.NodeName, ServiceAccountName: o.Spec.ServiceAccountName},
		}, nil
	case *corev1.Node:
		return &corev1.Node{ObjectMeta: slimMeta(o.ObjectMeta)}, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: slimMeta(o.ObjectMeta)}, nil
	case *corev1.Service:
		c := *o
		c.ManagedFields = nil
		return &c, nil
	case *discoveryv1.EndpointSlice:
		c := *o
		c.ManagedFields = nil
		return &c, nil
	}
	return obj, nil
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            m.Name,
		Namespace:       m.Namespace,
		UID:             m.UID,
		ResourceVersion: m.ResourceVersion,
		Labels:          m.Labels,
	}
}
