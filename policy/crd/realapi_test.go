package crd

import (
	"context"
	"strings"
	"testing"
	"time"

	meta "istio.io/api/meta/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	clientnetworkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	clientnetworkingv1beta1 "istio.io/client-go/pkg/apis/networking/v1beta1"
	versioned "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/policy"
)

// Against a real API server with Istio's CRDs: objects written at older
// versions are read at v1; an invalid edit (admitted by the API server,
// refused by Isthmus) keeps the last valid version through policy.Accept;
// a deletion removes the object; a restricted Source sees only its
// namespaces; a kind whose CRD is gone is reported by name.
func TestSourceOnARealAPIServer(t *testing.T) {
	c := kubeharness.StartT(t, kubeharness.Options{Name: "config"})
	ctx := t.Context()
	if err := c.ApplyIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := versioned.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"shop", "other"} {
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	all := runRealSource(t, client, Options{WriteStatus: true})
	shopOnly := runRealSource(t, client, Options{Namespaces: []string{"shop"}})

	vs := &clientnetworkingv1alpha3.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
		Spec: networking.VirtualService{Hosts: []string{"reviews"}, Http: []*networking.HTTPRoute{{
			Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: "reviews", Subset: "v1"}}}}}}}
	dr := &clientnetworkingv1beta1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
		Spec: networking.DestinationRule{Host: "reviews", Subsets: []*networking.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}}}}
	other := &clientnetworkingv1beta1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "ratings", Namespace: "other"},
		Spec: networking.DestinationRule{Host: "ratings"}}
	vss := client.NetworkingV1alpha3().VirtualServices("shop")
	mustDo(t, "create VirtualService", func() error { _, err := vss.Create(ctx, vs, metav1.CreateOptions{}); return err })
	mustDo(t, "create DestinationRule", func() error {
		_, err := client.NetworkingV1beta1().DestinationRules("shop").Create(ctx, dr, metav1.CreateOptions{})
		return err
	})
	mustDo(t, "create DestinationRule", func() error {
		_, err := client.NetworkingV1beta1().DestinationRules("other").Create(ctx, other, metav1.CreateOptions{})
		return err
	})
	waitDefinitions(t, all, "written at v1alpha3 and v1beta1", func(defs []policy.Definition, _ []*policy.ConfigError) bool {
		return len(defs) == 3 && defs[0].Object != nil && defs[0].Object.APIVersion == "networking.istio.io/v1"
	})
	waitDefinitions(t, shopOnly, "restricted to shop", func(defs []policy.Definition, _ []*policy.ConfigError) bool {
		return len(defs) == 2 && defs[0].Key.Namespace == "shop" && defs[1].Key.Namespace == "shop"
	})
	defs, _ := all.Definitions()
	served, problems := policy.Accept(nil, defs)
	if len(served) != 3 || len(problems) != 0 {
		t.Fatalf("accepted %d objects with problems %v, want 3 and none", len(served), problems)
	}

	invalidEdit(t, vss, all, served)
	waitStatus(t, vss, "rejected", func(st *meta.IstioStatus) bool {
		c := st.GetConditions()
		return len(c) == 1 && c[0].GetType() == "Accepted" && c[0].GetStatus() == "False" &&
			strings.Contains(c[0].GetMessage(), "regex") && len(st.GetValidationMessages()) == 1 &&
			st.GetValidationMessages()[0].GetType().GetCode() == "IST0106"
	})
	fixEdit(t, vss)
	waitStatus(t, vss, "accepted again", func(st *meta.IstioStatus) bool {
		return len(st.GetConditions()) == 0 && len(st.GetValidationMessages()) == 0
	})

	mustDo(t, "delete VirtualService", func() error { return vss.Delete(ctx, "reviews", metav1.DeleteOptions{}) })
	waitDefinitions(t, all, "deleted", func(defs []policy.Definition, problems []*policy.ConfigError) bool {
		return len(defs) == 2 && len(problems) == 0
	})

	mustDo(t, "delete the Telemetry CRD", func() error {
		return c.Dynamic.Resource(crdResource).Delete(ctx, "telemetries.telemetry.istio.io", metav1.DeleteOptions{})
	})
	deadline := time.Now().Add(30 * time.Second)
	for len(resourcesAt(client, "telemetry.istio.io/v1")) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // the API server removes a CRD's resource asynchronously
	}
	late := runRealSource(t, client, Options{})
	_, problems = late.Definitions()
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "telemetries.telemetry.istio.io") ||
		!strings.Contains(problems[0].Error(), "not installed") {
		t.Fatalf("problems %v, want the missing Telemetry CRD named", problems)
	}
}

// invalidEdit makes the VirtualService's match an invalid regex, which the
// API server admits: its definition loses its object, with a problem
// naming the cluster and field, and Accept keeps serving the valid version.
func invalidEdit(t *testing.T, vss interface {
	Get(context.Context, string, metav1.GetOptions) (*clientnetworkingv1alpha3.VirtualService, error)
	Update(context.Context, *clientnetworkingv1alpha3.VirtualService, metav1.UpdateOptions) (*clientnetworkingv1alpha3.VirtualService, error)
}, s *Source, served map[policy.Key]*policy.Object) {
	t.Helper()
	ctx := t.Context()
	cur, err := vss.Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Http[0].Match = []*networking.HTTPMatchRequest{{Uri: &networking.StringMatch{MatchType: &networking.StringMatch_Regex{Regex: "(["}}}}
	mustDo(t, "invalid edit", func() error { _, err := vss.Update(ctx, cur, metav1.UpdateOptions{}); return err })
	key := policy.Key{Kind: policy.KindVirtualService, Namespace: "shop", Name: "reviews"}
	waitDefinitions(t, s, "invalid edit", func(defs []policy.Definition, problems []*policy.ConfigError) bool {
		return len(problems) == 1 && problems[0].Key == key && strings.Contains(problems[0].Field, "regex") &&
			strings.HasPrefix(problems[0].Error(), "cluster config (resourceVersion ")
	})
	defs, _ := s.Definitions()
	next, _ := policy.Accept(served, defs)
	if next[key] != served[key] {
		t.Fatalf("after an invalid edit Accept serves %v, want the last valid version", next[key])
	}
}

func runRealSource(t *testing.T, client versioned.Interface, opts Options) *Source {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	opts.Cluster = "config"
	s := New(client, opts)
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustDo(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// fixEdit removes the invalid match again.
func fixEdit(t *testing.T, vss interface {
	Get(context.Context, string, metav1.GetOptions) (*clientnetworkingv1alpha3.VirtualService, error)
	Update(context.Context, *clientnetworkingv1alpha3.VirtualService, metav1.UpdateOptions) (*clientnetworkingv1alpha3.VirtualService, error)
}) {
	t.Helper()
	cur, err := vss.Get(t.Context(), "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Http[0].Match = nil
	mustDo(t, "fix", func() error { _, err := vss.Update(t.Context(), cur, metav1.UpdateOptions{}); return err })
}

// waitStatus waits until the reviews VirtualService's status satisfies ok.
func waitStatus(t *testing.T, vss interface {
	Get(context.Context, string, metav1.GetOptions) (*clientnetworkingv1alpha3.VirtualService, error)
}, what string, ok func(*meta.IstioStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := vss.Get(t.Context(), "reviews", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ok(&cur.Status) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s: got %v", what, &cur.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
