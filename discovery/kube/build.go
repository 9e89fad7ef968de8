package kube

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// builder reads the informers' caches and builds catalogs from them.
type builder struct {
	lookups
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
}

// build makes a catalog of every Service of the cluster and the endpoints
// of its EndpointSlices.
func (b builder) build() (*discovery.Catalog, error) {
	services, err := b.services.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	all, err := b.slices.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list endpoint slices: %w", err)
	}
	byService := slicesByService(all)
	out := make([]*discovery.Service, 0, len(services))
	endpoints := map[discovery.ServiceKey][]*discovery.Endpoint{}
	for _, svc := range services {
		s := convertService(svc, b.opts)
		out = append(out, s)
		if eps := b.serviceEndpoints(svc, byService[serviceName(svc)]); len(eps) > 0 {
			endpoints[s.ServiceKey] = eps
		}
	}
	return discovery.NewCatalog(out, endpoints).WithGateways(networkGateways(services, b.opts.ClusterID)), nil
}

func serviceName(svc *corev1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}

// slicesByService groups slices by the service their
// kubernetes.io/service-name label names, each group in name order (so an
// address listed twice always comes from the same slice).
func slicesByService(all []*discoveryv1.EndpointSlice) map[types.NamespacedName][]*discoveryv1.EndpointSlice {
	slices.SortFunc(all, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	out := map[types.NamespacedName][]*discoveryv1.EndpointSlice{}
	for _, s := range all {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: name}
		out[key] = append(out[key], s)
	}
	return out
}
