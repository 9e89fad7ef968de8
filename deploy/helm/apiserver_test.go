package helm

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	helmkube "helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// helmTimeout bounds each Helm action against the test API server.
const helmTimeout = 2 * time.Minute

// install, upgrade and uninstall through Helm's SDK against a real
// kube-apiserver (objects only: no kubelet runs the pods). Every rendered
// object, Istio's CRDs included, is accepted and stored; the service
// account can do what Isthmus does and no more; with Isthmus unreachable,
// validation fails closed and injection open; an upgrade's values reach
// the stored Deployment while the generated CA and the patched caBundles
// stay; uninstall leaves nothing of the release but the CRDs Istio marks to
// keep, which a new install of the release takes back.
func TestInstallUpgradeUninstallOnARealAPIServer(t *testing.T) {
	cluster := kubeharness.StartT(t, kubeharness.Options{})
	ch := loadChart(t, stagedChart(t))
	cfg := helmConfig(t, cluster)
	values := readValues(t, "istiod-alias-cacerts-remotes-tracing.values.yaml")
	delete(values, "ca") // the generated CA, to see upgrades keep it
	values["crds"] = map[string]any{"install": true}

	objects, err := decodeManifest(helmInstall(t, cfg, ch, values).Manifest)
	if err != nil {
		t.Fatal(err)
	}
	mapper := newMapper(cluster)
	checkStored(t, cluster, mapper, objects)
	t.Run("service account RBAC", func(t *testing.T) { checkServiceAccountRBAC(t, cluster) })
	t.Run("webhooks without Isthmus", func(t *testing.T) { checkWebhooksFailClosedAndOpen(t, cluster) })
	ca := secretData(t, cluster, "isthmus-ca")
	patchCABundles(t, cluster, ca["root-cert.pem"]) // as Isthmus does at start

	values["replicaCount"] = 3
	values["log"] = map[string]any{"level": "warn", "format": "text"}
	helmUpgrade(t, cfg, ch, values)
	checkUpgraded(t, cluster, ca)
	checkCABundles(t, cluster, ca["root-cert.pem"])

	helmUninstall(t, cfg)
	checkUninstalled(t, cluster, mapper, objects)
	// The kept CRDs still name the release: installing it again adopts them.
	helmInstall(t, cfg, ch, values)
}

// checkStored: every object of the release is stored.
func checkStored(t *testing.T, cluster *kubeharness.Cluster, mapper meta.RESTMapper, objects []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objects {
		if _, err := getObject(t.Context(), cluster.Dynamic, mapper, o); err != nil {
			t.Errorf("%s %s not stored after install: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// checkUpgraded: the upgrade's values (3 replicas, log level warn) are in
// the stored Deployment, and the generated CA is the one installed.
func checkUpgraded(t *testing.T, cluster *kubeharness.Cluster, ca map[string][]byte) {
	t.Helper()
	deployment, err := cluster.Client.AppsV1().Deployments(testNamespace).Get(t.Context(), "isthmus", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := deployment.Spec.Template.Spec.Containers[0].Args; *deployment.Spec.Replicas != 3 || !slices.Contains(args, "--log-level=warn") {
		t.Errorf("upgrade not in the stored Deployment: replicas %d, args %v", *deployment.Spec.Replicas, args)
	}
	if !maps.EqualFunc(ca, secretData(t, cluster, "isthmus-ca"), bytes.Equal) {
		t.Error("the upgrade replaced the generated CA: replicas started before and after it would not share a root")
	}
}

// checkUninstalled: nothing of the release is left, release records
// included, but Istio's CRDs (helm.sh/resource-policy: keep).
func checkUninstalled(t *testing.T, cluster *kubeharness.Cluster, mapper meta.RESTMapper, objects []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objects {
		_, err := getObject(t.Context(), cluster.Dynamic, mapper, o)
		kept := o.GetKind() == "CustomResourceDefinition"
		switch {
		case kept && err != nil:
			t.Errorf("CRD %s removed by uninstall; Istio's CRDs are kept (helm.sh/resource-policy: keep): %v", o.GetName(), err)
		case !kept && !apierrors.IsNotFound(err):
			t.Errorf("%s %s still there after uninstall (%v)", o.GetKind(), o.GetName(), err)
		}
	}
	releases, err := cluster.Client.CoreV1().Secrets(testNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil || len(releases.Items) != 0 {
		t.Errorf("release records left after uninstall: %d (%v)", len(releases.Items), err)
	}
}

// helmConfig is Helm's action configuration for the cluster, releases
// stored as Secrets in testNamespace.
func helmConfig(t *testing.T, cluster *kubeharness.Cluster) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	kubeconfig, namespace, cacheDir := cluster.Kubeconfig, testNamespace, t.TempDir()
	flags.KubeConfig, flags.Namespace, flags.CacheDir = &kubeconfig, &namespace, &cacheDir
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, testNamespace, "secret"); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func helmInstall(t *testing.T, cfg *action.Configuration, ch any, values map[string]any) *releasev1.Release {
	t.Helper()
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = testRelease, testNamespace, true
	install.ServerSideApply, install.WaitStrategy, install.Timeout = true, helmkube.HookOnlyStrategy, helmTimeout
	rel, err := install.RunWithContext(t.Context(), ch, values)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	return rel.(*releasev1.Release)
}

func helmUpgrade(t *testing.T, cfg *action.Configuration, ch any, values map[string]any) {
	t.Helper()
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace, upgrade.ServerSideApply = testNamespace, "auto"
	upgrade.WaitStrategy, upgrade.Timeout = helmkube.HookOnlyStrategy, helmTimeout
	if _, err := upgrade.RunWithContext(t.Context(), testRelease, ch, values); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
}

func helmUninstall(t *testing.T, cfg *action.Configuration) {
	t.Helper()
	uninstall := action.NewUninstall(cfg)
	uninstall.WaitStrategy, uninstall.Timeout, uninstall.DeletionPropagation = helmkube.HookOnlyStrategy, helmTimeout, "background"
	if _, err := uninstall.Run(testRelease); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
}

func newMapper(cluster *kubeharness.Cluster) meta.RESTMapper {
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cluster.Client.Discovery()))
}

// The chart's two webhook configurations, as Isthmus patches them.
var webhookConfigurations = []struct{ resource, name string }{
	{"validatingwebhookconfigurations", "isthmus-validator-canary-istio-system"},
	{"mutatingwebhookconfigurations", "isthmus-sidecar-injector-canary-istio-system"},
}

func webhookGVR(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: resource}
}

// patchCABundles sets every webhook's caBundle, as isthmus serve does.
func patchCABundles(t *testing.T, cluster *kubeharness.Cluster, bundle []byte) {
	t.Helper()
	for _, c := range webhookConfigurations {
		obj, err := cluster.Dynamic.Resource(webhookGVR(c.resource)).Get(t.Context(), c.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		var ops []string
		for i := range hooks {
			ops = append(ops, fmt.Sprintf(`{"op":"add","path":"/webhooks/%d/clientConfig/caBundle","value":%q}`, i, base64.StdEncoding.EncodeToString(bundle)))
		}
		patch := []byte("[" + strings.Join(ops, ",") + "]")
		if _, err := cluster.Dynamic.Resource(webhookGVR(c.resource)).Patch(t.Context(), c.name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch the caBundle of %s: %v", c.name, err)
		}
	}
}

// checkCABundles: an upgrade leaves the caBundles Isthmus patched (the
// chart renders none), or webhooks would fail until Isthmus restarts.
func checkCABundles(t *testing.T, cluster *kubeharness.Cluster, bundle []byte) {
	t.Helper()
	for _, c := range webhookConfigurations {
		obj, err := cluster.Dynamic.Resource(webhookGVR(c.resource)).Get(t.Context(), c.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
		for i, h := range hooks {
			got, _, _ := unstructured.NestedString(h.(map[string]any), "clientConfig", "caBundle")
			if got != base64.StdEncoding.EncodeToString(bundle) {
				t.Errorf("%s webhook %d: the upgrade changed the caBundle Isthmus patched (now %.20q)", c.name, i, got)
			}
		}
	}
}

// getObject reads the stored object of o's kind, namespace and name.
func getObject(ctx context.Context, client dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := o.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() == meta.RESTScopeNameRoot {
		return client.Resource(mapping.Resource).Get(ctx, o.GetName(), metav1.GetOptions{})
	}
	return client.Resource(mapping.Resource).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
}

func secretData(t *testing.T, cluster *kubeharness.Cluster, name string) map[string][]byte {
	t.Helper()
	s, err := cluster.Client.CoreV1().Secrets(testNamespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// access is one request the service account makes, and whether RBAC must
// allow it.
type access struct {
	what    string
	allowed bool
	do      func(ctx context.Context, c kubernetes.Interface, d dynamic.Interface) error
}

// checkServiceAccountRBAC makes, with a token of the chart's service
// account, the requests Isthmus makes (allowed) and some it must not
// (forbidden).
func checkServiceAccountRBAC(t *testing.T, cluster *kubeharness.Cluster) {
	client, dyn := serviceAccountClients(t, cluster)
	for _, a := range serviceAccountAccesses() {
		err := a.do(t.Context(), client, dyn)
		switch {
		case a.allowed && err != nil:
			t.Errorf("%s: refused: %v", a.what, err)
		case !a.allowed && !apierrors.IsForbidden(err):
			t.Errorf("%s: want Forbidden, got %v", a.what, err)
		}
	}
}

func serviceAccountAccesses() []access {
	return slices.Concat(readAccesses(), otherAccesses(), webhookAccesses(), []access{statusAccess()})
}

// readAccesses: list and watch, in every namespace, what Isthmus reads.
func readAccesses() []access {
	resources := map[string][]string{
		"/v1":                    {"services", "pods", "namespaces", "nodes"},
		"discovery.k8s.io/v1":    {"endpointslices"},
		"networking.istio.io/v1": {"virtualservices", "destinationrules", "gateways", "serviceentries", "workloadentries", "sidecars"},
		"security.istio.io/v1":   {"peerauthentications", "authorizationpolicies", "requestauthentications"},
		"telemetry.istio.io/v1":  {"telemetries"},
	}
	var accesses []access
	for groupVersion, names := range resources {
		group, version, _ := strings.Cut(groupVersion, "/")
		for _, resource := range names {
			accesses = append(accesses, listAndWatch(schema.GroupVersionResource{Group: group, Version: version, Resource: resource}))
		}
	}
	return accesses
}

func listAndWatch(gvr schema.GroupVersionResource) access {
	return access{"list and watch " + gvr.String(), true, func(ctx context.Context, _ kubernetes.Interface, d dynamic.Interface) error {
		if _, err := d.Resource(gvr).List(ctx, metav1.ListOptions{}); err != nil {
			return err
		}
		w, err := d.Resource(gvr).Watch(ctx, metav1.ListOptions{})
		if err == nil {
			w.Stop()
		}
		return err
	}}
}

// otherAccesses: token reviews and the system namespace's Secrets, but
// no other Secret, no write of workloads or Istio resources.
func otherAccesses() []access {
	return []access{
		{"create tokenreviews", true, func(ctx context.Context, c kubernetes.Interface, _ dynamic.Interface) error {
			_, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "x"}}, metav1.CreateOptions{})
			return err
		}},
		{"read remote secrets in " + testNamespace, true, func(ctx context.Context, c kubernetes.Interface, _ dynamic.Interface) error {
			_, err := c.CoreV1().Secrets(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: "istio/multiCluster=true"})
			return err
		}},
		{"read secrets in default", false, func(ctx context.Context, c kubernetes.Interface, _ dynamic.Interface) error {
			_, err := c.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"delete a pod", false, func(ctx context.Context, c kubernetes.Interface, _ dynamic.Interface) error {
			return c.CoreV1().Pods("default").Delete(ctx, "any", metav1.DeleteOptions{})
		}},
		{"create a VirtualService", false, func(ctx context.Context, _ kubernetes.Interface, d dynamic.Interface) error {
			_, err := d.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}).
				Namespace("default").Create(ctx, virtualService("default", "x"), metav1.CreateOptions{})
			return err
		}},
	}
}

// webhookAccesses: get and patch (isthmus serve updates) the chart's webhook configurations, not
// others.
func webhookAccesses() []access {
	type hook struct {
		resource, name string
		allowed        bool
	}
	hooks := []hook{{"validatingwebhookconfigurations", "some-other-validator", false}}
	for _, c := range webhookConfigurations {
		hooks = append(hooks, hook{c.resource, c.name, true})
	}
	var accesses []access
	for _, h := range hooks {
		gvr := webhookGVR(h.resource)
		accesses = append(accesses, access{fmt.Sprintf("get and patch %s %s", h.resource, h.name), h.allowed,
			func(ctx context.Context, _ kubernetes.Interface, d dynamic.Interface) error {
				if _, err := d.Resource(gvr).Get(ctx, h.name, metav1.GetOptions{}); err != nil {
					return err
				}
				_, err := d.Resource(gvr).Patch(ctx, h.name, types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
				return err
			}})
	}
	return accesses
}

// statusAccess: patch an Istio resource's status (writeStatus is on).
func statusAccess() access {
	gvr := schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
	return access{"patch a PeerAuthentication's status (writeStatus)", true,
		func(ctx context.Context, _ kubernetes.Interface, d dynamic.Interface) error {
			// Allowed by RBAC, so the API server answers NotFound for an
			// object that does not exist.
			_, err := d.Resource(gvr).Namespace("default").Patch(ctx, "absent", types.MergePatchType, []byte(`{"status":{}}`), metav1.PatchOptions{}, "status")
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}}
}

// serviceAccountClients are clients holding a token of the chart's
// service account, as the pod's would.
func serviceAccountClients(t *testing.T, cluster *kubeharness.Cluster) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	token, err := cluster.Client.CoreV1().ServiceAccounts(testNamespace).CreateToken(t.Context(), "isthmus",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of service account isthmus: %v", err)
	}
	cfg := rest.CopyConfig(cluster.Config())
	cfg.BearerToken = token.Status.Token
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, dyn
}

// checkWebhooksFailClosedAndOpen: with no Isthmus answering (no kubelet
// runs it: its Service has no endpoints, and the harness's API server
// calls webhooks at endpoints only, so nothing is dialled), the API
// server refuses an Istio object (validation,
// failurePolicy Fail) and admits a pod of an injected namespace as it is
// (injection, Ignore).
func checkWebhooksFailClosedAndOpen(t *testing.T, cluster *kubeharness.Cluster) {
	ctx := t.Context()
	vs := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	reviews := virtualService("default", "reviews")
	reviews.SetLabels(map[string]string{"istio.io/rev": "canary"}) // the revision the validator serves
	_, err := cluster.Dynamic.Resource(vs).Namespace("default").Create(ctx, reviews, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "validation.istio.io") || !strings.Contains(err.Error(), "no endpoints available") {
		t.Errorf("VirtualService created with Isthmus unreachable (want refused by validation.istio.io, no endpoints): %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"istio.io/rev": "canary"}}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "shop"}}
	if _, err := cluster.Client.CoreV1().ServiceAccounts("shop").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "reviews:1"}}}}
	created, err := cluster.Client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("pod of an injected namespace refused with Isthmus unreachable (want admitted, uninjected): %v", err)
	}
	if len(created.Spec.Containers) != 1 {
		t.Errorf("pod admitted with %d containers, want its own 1", len(created.Spec.Containers))
	}
}

func virtualService(namespace, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{
			"route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}}}}}},
	}}
}
