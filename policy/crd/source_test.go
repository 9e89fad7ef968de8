package crd

import (
	"context"
	"strings"
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	clientnetworking "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/policy"
)

// fakeClient serves every kind at v1 except those left out.
func fakeClient(t *testing.T, leaveOut ...string) *fake.Clientset {
	t.Helper()
	client := fake.NewSimpleClientset()
	byVersion := map[string]*metav1.APIResourceList{}
	for _, k := range kinds {
		skip := false
		for _, r := range leaveOut {
			skip = skip || r == k.resource
		}
		if skip {
			continue
		}
		list := byVersion[k.apiVersion()]
		if list == nil {
			list = &metav1.APIResourceList{GroupVersion: k.apiVersion()}
			byVersion[k.apiVersion()] = list
			client.Resources = append(client.Resources, list)
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{Name: k.resource, Namespaced: true, Kind: string(k.kind)})
	}
	return client
}

func startSource(t *testing.T, client *fake.Clientset) *Source {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := New(client, Options{Cluster: "config"})
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func virtualService(name, host string) *clientnetworking.VirtualService {
	return &clientnetworking.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: networking.VirtualService{Hosts: []string{host}, Http: []*networking.HTTPRoute{{
			Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: host}}},
		}}},
	}
}

// waitDefinitions waits until the source's definitions satisfy ok.
func waitDefinitions(t *testing.T, s *Source, what string, ok func([]policy.Definition, []*policy.ConfigError) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		defs, problems := s.Definitions()
		if ok(defs, problems) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: definitions %v, problems %v", what, defs, problems)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A VirtualService created, made invalid, fixed and deleted through the
// API server is defined, defined without object (with a problem naming the
// cluster, object and field), defined again and forgotten.
func TestSourceFollowsCustomResources(t *testing.T) {
	client := fakeClient(t)
	s := startSource(t, client)
	vss := client.NetworkingV1().VirtualServices("default")
	ctx := context.Background()
	if _, err := vss.Create(ctx, virtualService("reviews", "reviews"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	key := policy.Key{Kind: policy.KindVirtualService, Namespace: "default", Name: "reviews"}
	waitDefinitions(t, s, "created", func(defs []policy.Definition, _ []*policy.ConfigError) bool {
		return len(defs) == 1 && defs[0].Key == key && defs[0].Object != nil && defs[0].Source.Cluster == "config"
	})

	bad := virtualService("reviews", "reviews")
	bad.Spec.Http[0].Route[0].Weight = -5
	if _, err := vss.Update(ctx, bad, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDefinitions(t, s, "made invalid", func(defs []policy.Definition, problems []*policy.ConfigError) bool {
		return len(defs) == 1 && defs[0].Object == nil && len(problems) == 1 &&
			problems[0].Key == key && strings.Contains(problems[0].Field, "weight") &&
			strings.HasPrefix(problems[0].Error(), "cluster config")
	})

	if err := vss.Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDefinitions(t, s, "deleted", func(defs []policy.Definition, problems []*policy.ConfigError) bool {
		return len(defs) == 0 && len(problems) == 0
	})
}

// A kind whose CustomResourceDefinition the API server does not serve at
// v1 is a problem naming the resource; the other kinds are read.
func TestSourceReportsKindsNotServed(t *testing.T) {
	client := fakeClient(t, "telemetries")
	s := startSource(t, client)
	_, problems := s.Definitions()
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "telemetries.telemetry.istio.io is not served at v1") {
		t.Fatalf("problems %v, want one naming telemetries.telemetry.istio.io", problems)
	}
	if _, err := client.NetworkingV1().VirtualServices("default").Create(context.Background(), virtualService("a", "a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDefinitions(t, s, "created", func(defs []policy.Definition, _ []*policy.ConfigError) bool { return len(defs) == 1 })
}
