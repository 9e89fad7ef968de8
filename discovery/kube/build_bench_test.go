package kube

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkBuild measures one full catalog rebuild of a cluster with 2,000
// services of 5 pods each (10,000 endpoints), from the informers' caches.
func BenchmarkBuild(b *testing.B) {
	const services, podsPerService = 2000, 5
	indexer := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	svcs, slices, pods, nodes, namespaces := indexer(), indexer(), indexer(), indexer(), indexer()
	mustAdd(b, nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node", Labels: map[string]string{
		labelRegion: "r", labelZone: "z"}}})
	mustAdd(b, namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}})
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		mustAdd(b, svcs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": name}},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250), Ports: []corev1.ServicePort{
				{Name: "http", Port: 80}, {Name: "grpc", Port: 9090}}},
		})
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}, {Name: ptr("grpc"), Port: ptr(int32(9090))}},
		}
		for j := range podsPerService {
			pod := fmt.Sprintf("%s-%d", name, j)
			mustAdd(b, pods, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "ns", Labels: map[string]string{
					"app": name, "version": "v1", "security.istio.io/tlsMode": "istio"}},
				Spec: corev1.PodSpec{NodeName: "node", ServiceAccountName: name},
			})
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 1+i/250, i%250, j)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: "ns"},
			})
		}
		mustAdd(b, slices, slice)
	}
	bld := builder{
		lookups: lookups{
			pods:       corelisters.NewPodLister(pods),
			nodes:      corelisters.NewNodeLister(nodes),
			namespaces: corelisters.NewNamespaceLister(namespaces),
			opts:       Options{ClusterID: "c1", DomainSuffix: DefaultDomainSuffix},
		},
		services: corelisters.NewServiceLister(svcs),
		slices:   discoverylisters.NewEndpointSliceLister(slices),
	}
	b.ResetTimer()
	for b.Loop() {
		cat, err := bld.build()
		if err != nil || len(cat.Services()) != services {
			b.Fatalf("build: %v, %d services", err, len(cat.Services()))
		}
	}
}

func mustAdd(b *testing.B, idx cache.Indexer, obj any) {
	if err := idx.Add(obj); err != nil {
		b.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
