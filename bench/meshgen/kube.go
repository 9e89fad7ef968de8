package meshgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultKubeWorkers is how many services KubeMesh.Apply writes at once.
const DefaultKubeWorkers = 8

// KubeOptions configure a KubeMesh. Zero values take the defaults.
type KubeOptions struct {
	// Workers is how many services Apply writes concurrently;
	// DefaultKubeWorkers when zero.
	Workers int
	// Istio, when set, also receives the routing config (DestinationRules,
	// VirtualServices, Sidecars) as custom resources, for control planes
	// that read it from the API server. The Istio CRDs must be installed.
	Istio dynamic.Interface
	// Logger receives progress; slog.Default() when nil.
	Logger *slog.Logger
}

// KubeMesh writes a generated mesh's services and endpoints to a
// Kubernetes API server: Namespaces, ServiceAccounts, Services, Pods and
// EndpointSlices (see the Kube* builders of Service). Every write is create
// or update, so applying the same mesh twice changes nothing. A KubeMesh is
// safe for concurrent use on distinct services.
type KubeMesh struct {
	client kubernetes.Interface
	opts   KubeOptions
}

// NewKubeMesh writes through client (a fake clientset in tests).
func NewKubeMesh(client kubernetes.Interface, opts KubeOptions) *KubeMesh {
	if opts.Workers <= 0 {
		opts.Workers = DefaultKubeWorkers
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &KubeMesh{client: client, opts: opts}
}

// LoadKubeconfig reads a kubeconfig file; kubeContext "" is its current
// context.
func LoadKubeconfig(path, kubeContext string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// Apply writes the whole mesh of spec (as in Kubernetes mode, whatever
// spec.Kubernetes says): its namespaces, then every service, and with
// KubeOptions.Istio the routing config and each namespace's Sidecar.
func (k *KubeMesh) Apply(ctx context.Context, spec Spec) error {
	spec.Kubernetes = true
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("mesh spec: %w", err)
	}
	for j := 0; j < spec.Namespaces; j++ {
		if err := k.applyNamespace(ctx, j, spec.Sidecars); err != nil {
			return err
		}
	}
	if err := k.forEachService(ctx, spec, k.ApplyService); err != nil {
		return err
	}
	k.opts.Logger.Info("mesh applied to Kubernetes", "services", spec.Services, "namespaces", spec.Namespaces,
		"pods", spec.Services*spec.EndpointsPerService, "istioConfig", k.opts.Istio != nil)
	return nil
}

func (k *KubeMesh) applyNamespace(ctx context.Context, j int, sidecar bool) error {
	if _, err := upsert(ctx, k.client.CoreV1().Namespaces(), KubeNamespace(j), unchanged); err != nil {
		return err
	}
	if sidecar && k.opts.Istio != nil {
		return k.ApplyIstioYAML(ctx, SidecarYAML(NamespaceName(j)))
	}
	return nil
}

// forEachService runs apply on every service of spec, Workers at a time,
// and stops at the first error.
func (k *KubeMesh) forEachService(ctx context.Context, spec Spec, apply func(context.Context, *Service) error) error {
	return Parallel(ctx, spec.Services, k.opts.Workers, func(ctx context.Context, i int) error {
		return apply(ctx, spec.Service(i))
	})
}

// Parallel runs do(ctx, 0..n-1), workers at a time, and returns the first
// error, cancelling ctx for the others and starting no more.
func Parallel(ctx context.Context, n, workers int, do func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// ApplyService writes one service: its ServiceAccount, Service, pods and
// EndpointSlice (SetEndpoints), and with KubeOptions.Istio its
// DestinationRule and VirtualService. Its namespace must exist.
func (k *KubeMesh) ApplyService(ctx context.Context, svc *Service) error {
	if _, err := upsert(ctx, k.client.CoreV1().ServiceAccounts(svc.Namespace), svc.KubeServiceAccount(), unchanged); err != nil {
		return fmt.Errorf("service %s: %w", svc.Host, err)
	}
	if _, err := upsert(ctx, k.client.CoreV1().Services(svc.Namespace), svc.KubeService(), svc.fixService); err != nil {
		return fmt.Errorf("service %s: %w", svc.Host, err)
	}
	if err := k.SetEndpoints(ctx, svc); err != nil {
		return err
	}
	if k.opts.Istio == nil {
		return nil
	}
	return k.ApplyIstioYAML(ctx, routingYAML(svc))
}

// routingYAML is the service's Istio config without its ServiceEntry.
func routingYAML(svc *Service) []byte {
	routing := *svc
	routing.Kubernetes = true
	return routing.YAML()
}

// fixService keeps the cluster IP (which cannot change) and sets meshgen's
// ports and no selector.
func (svc *Service) fixService(have *corev1.Service) (bool, error) {
	if have.Spec.ClusterIP != svc.VIP {
		return false, fmt.Errorf("has cluster IP %s, want %s: delete it first", have.Spec.ClusterIP, svc.VIP)
	}
	want := svc.kubeServicePorts()
	if apiequality.Semantic.DeepEqual(have.Spec.Ports, want) && have.Spec.Selector == nil {
		return false, nil
	}
	have.Spec.Ports, have.Spec.Selector = want, nil
	return true, nil
}

// SetEndpoints makes the API server's endpoints of svc what svc.Endpoints
// says, as a load generator's endpoint churn does after
// Service.SetEndpointGeneration: it creates the pods of new endpoints
// (running, at their address), then rewrites the EndpointSlice, then
// deletes the pods meshgen made for endpoints svc no longer has. A reader
// of the API server never sees an endpoint whose pod is missing. Its three
// steps are ApplyEndpointPod, ApplyEndpointSlice and DeleteStalePods, for
// a caller that times the EndpointSlice write alone.
func (k *KubeMesh) SetEndpoints(ctx context.Context, svc *Service) error {
	for _, ep := range svc.Endpoints {
		if err := k.ApplyEndpointPod(ctx, svc, ep); err != nil {
			return err
		}
	}
	if err := k.ApplyEndpointSlice(ctx, svc); err != nil {
		return err
	}
	return k.DeleteStalePods(ctx, svc)
}

// ApplyEndpointPod creates or updates the pod of endpoint ep of svc and
// reports it running at the endpoint's address. The namespace and the
// service account must exist.
func (k *KubeMesh) ApplyEndpointPod(ctx context.Context, svc *Service, ep Endpoint) error {
	if err := k.applyPod(ctx, svc, ep); err != nil {
		return fmt.Errorf("service %s: %w", svc.Host, err)
	}
	return nil
}

// ApplyEndpointSlice creates or updates the EndpointSlice of svc to list
// svc.Endpoints; it returns once the API server has stored it.
func (k *KubeMesh) ApplyEndpointSlice(ctx context.Context, svc *Service) error {
	slices := k.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	if _, err := upsert(ctx, slices, svc.KubeEndpointSlice(), svc.fixEndpointSlice); err != nil {
		return fmt.Errorf("service %s: %w", svc.Host, err)
	}
	return nil
}

// applyPod creates or updates the pod of ep, then reports it running at
// the endpoint's address, as its kubelet would.
func (k *KubeMesh) applyPod(ctx context.Context, svc *Service, ep Endpoint) error {
	pods := k.client.CoreV1().Pods(svc.Namespace)
	pod, err := upsert(ctx, pods, svc.kubePod(ep), svc.fixPod)
	if err != nil {
		return err
	}
	status := runningStatus(ep.Address)
	if pod.Status.PodIP == status.PodIP && pod.Status.Phase == status.Phase {
		return nil
	}
	pod.Status = status
	if _, err := pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pod %s/%s status: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// fixPod: a pod's labels are merged by upsert; its service account cannot
// change.
func (svc *Service) fixPod(have *corev1.Pod) (bool, error) {
	if have.Spec.ServiceAccountName != svc.ServiceAccount() {
		return false, fmt.Errorf("runs as %q, want %q: delete it first", have.Spec.ServiceAccountName, svc.ServiceAccount())
	}
	return false, nil
}

// fixEndpointSlice replaces ports and endpoints with meshgen's.
func (svc *Service) fixEndpointSlice(have *discoveryv1.EndpointSlice) (bool, error) {
	want := svc.KubeEndpointSlice()
	if have.AddressType != want.AddressType {
		return false, errors.New("has address type " + string(have.AddressType) + ": delete it first")
	}
	if apiequality.Semantic.DeepEqual(have.Ports, want.Ports) && apiequality.Semantic.DeepEqual(have.Endpoints, want.Endpoints) {
		return false, nil
	}
	have.Ports, have.Endpoints = want.Ports, want.Endpoints
	return true, nil
}

// DeleteStalePods deletes the pods meshgen made for svc that are not the
// pods of its current endpoints.
func (k *KubeMesh) DeleteStalePods(ctx context.Context, svc *Service) error {
	pods := k.client.CoreV1().Pods(svc.Namespace)
	selector := labels.SelectorFromSet(labels.Set{"app": svc.Name}).String()
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("service %s: list pods: %w", svc.Host, err)
	}
	current := map[string]bool{}
	for _, ep := range svc.Endpoints {
		current[PodName(ep)] = true
	}
	for _, pod := range list.Items {
		if current[pod.Name] || !ownedByMeshgen(&pod) {
			continue
		}
		if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
			return fmt.Errorf("service %s: delete pod %s: %w", svc.Host, pod.Name, err)
		}
	}
	return nil
}

// DeleteService removes what ApplyService wrote for svc: its
// EndpointSlice, pods, Service and ServiceAccount, and with
// KubeOptions.Istio its routing config. What is already gone is skipped.
func (k *KubeMesh) DeleteService(ctx context.Context, svc *Service) error {
	gone := *svc
	gone.Endpoints = nil
	core := k.client.CoreV1()
	steps := []func() error{
		func() error {
			return k.client.DiscoveryV1().EndpointSlices(svc.Namespace).Delete(ctx, svc.Name, metav1.DeleteOptions{})
		},
		func() error { return k.DeleteStalePods(ctx, &gone) },
		func() error { return core.Services(svc.Namespace).Delete(ctx, svc.Name, metav1.DeleteOptions{}) },
		func() error {
			return core.ServiceAccounts(svc.Namespace).Delete(ctx, svc.ServiceAccount(), metav1.DeleteOptions{})
		},
	}
	if k.opts.Istio != nil {
		steps = append(steps, func() error { return k.DeleteIstioYAML(ctx, routingYAML(svc)) })
	}
	for _, step := range steps {
		if err := ignoreNotFound(step()); err != nil {
			return fmt.Errorf("delete service %s: %w", svc.Host, err)
		}
	}
	return nil
}
