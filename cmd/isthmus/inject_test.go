package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
	"github.com/isthmus-mesh/isthmus/inject"
	"github.com/isthmus-mesh/isthmus/inject/rootcert"
)

var webhookAddrInLog = regexp.MustCompile(`admission webhooks" addr=(\S+)`)

// isthmus serve against a real kube-apiserver: the webhook configurations
// it is given are created after it starts with an empty caBundle (it
// retries), and get the mesh roots, as does every namespace's
// istio-ca-root-cert ConfigMap; then a pod created in a namespace
// labelled istio-injection=enabled is stored with the sidecar, one in an
// unlabelled namespace unchanged; with Isthmus stopped, pods are still
// created (failurePolicy Ignore), without a sidecar.
func TestServeInjectsPodsOnARealAPIServer(t *testing.T) {
	c := kubeharness.StartT(t, kubeharness.Options{Name: "inject"})
	ctx := t.Context()
	if err := c.ApplyIstioCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	var logs serveLogBuffer
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	opts, _, err := parseServeFlags([]string{"--config-kubeconfig", c.Kubeconfig, "--config-cluster-id", "aws",
		"--xds-listen", "", "--secure-listen", "127.0.0.1:0", "--monitoring-listen", "127.0.0.1:0",
		"--webhook-listen", "127.0.0.1:0", "--secure-dns-names", "localhost,isthmus.istio-system.svc",
		"--ephemeral-ca", "--remote-secrets=false", "--inject-network", "net-aws",
		"--validating-webhook", "istio-validator-isthmus", "--injection-webhook", "istio-sidecar-injector-isthmus"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- serve(serveCtx, opts, slog.New(slog.NewTextHandler(&logs, nil)), nil) }()
	addr := waitForLogMatch(t, &logs, webhookAddrInLog)
	_, port, _ := net.SplitHostPort(addr)

	createWebhookConfigurations(t, c.Client, "https://localhost:"+port)
	roots := waitForCABundles(t, c.Client)
	if !strings.Contains(logs.String(), "webhook caBundle not set; retrying") {
		t.Errorf("the missing configurations were not logged as retried:\n%s", logs.String())
	}
	checkServedUnder(t, addr, roots)

	createNamespace(t, c.Client, "mesh", map[string]string{inject.LabelInjection: "enabled"})
	createNamespace(t, c.Client, "plain", nil)
	waitLong(t, "the mesh roots in namespace mesh", func() bool {
		cm, err := c.Client.CoreV1().ConfigMaps("mesh").Get(ctx, rootcert.ConfigMapName, metav1.GetOptions{})
		return err == nil && cm.Data[rootcert.DataKey] == string(roots)
	})
	waitForInjection(t, c.Client, "mesh")
	meshPod := createPod(t, c.Client, "mesh", "web")
	checkInjected(t, meshPod)
	if plainPod := createPod(t, c.Client, "plain", "web"); len(plainPod.Spec.Containers) != 1 || len(plainPod.Spec.InitContainers) != 0 {
		t.Errorf("pod of the unlabelled namespace changed: containers %v, init containers %v", plainPod.Spec.Containers, plainPod.Spec.InitContainers)
	}

	stopServe()
	<-stopped
	down := createPod(t, c.Client, "mesh", "while-down")
	if len(down.Spec.Containers) != 1 || down.Annotations[inject.AnnotationStatus] != "" {
		t.Errorf("pod created while Isthmus was down has %d containers, status %q; want it unchanged", len(down.Spec.Containers), down.Annotations[inject.AnnotationStatus])
	}
}

// createWebhookConfigurations makes Isthmus's two webhook configurations
// with an empty caBundle, as a chart installs them.
func createWebhookConfigurations(t *testing.T, client kubernetes.Interface, base string) {
	t.Helper()
	ignore, fail, none := admissionregistrationv1.Ignore, admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	injectURL, validateURL := base+inject.Path, base+"/validate"
	create := []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-sidecar-injector-isthmus"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "sidecar-injector.istio.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &injectURL},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: create,
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy: &ignore, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-validator-isthmus"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validation.istio.io", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &validateURL},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: create,
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"}, Resources: []string{"*"}}}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	api := client.AdmissionregistrationV1()
	if _, err := api.MutatingWebhookConfigurations().Create(t.Context(), mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(t.Context(), vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitForCABundles waits until both configurations hold the same non-empty
// caBundle and returns it.
func waitForCABundles(t *testing.T, client kubernetes.Interface) []byte {
	t.Helper()
	var bundle []byte
	waitLong(t, "the caBundle of both webhook configurations", func() bool {
		api := client.AdmissionregistrationV1()
		m, err1 := api.MutatingWebhookConfigurations().Get(t.Context(), "istio-sidecar-injector-isthmus", metav1.GetOptions{})
		v, err2 := api.ValidatingWebhookConfigurations().Get(t.Context(), "istio-validator-isthmus", metav1.GetOptions{})
		if err1 != nil || err2 != nil {
			return false
		}
		bundle = m.Webhooks[0].ClientConfig.CABundle
		return len(bundle) > 0 && bytes.Equal(bundle, v.Webhooks[0].ClientConfig.CABundle)
	})
	return bundle
}

// checkServedUnder wants the webhook's certificate to verify against the
// caBundle for the name in the configurations' URL.
func checkServedUnder(t *testing.T, addr string, caBundle []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatalf("caBundle holds no certificate:\n%s", caBundle)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("the webhook's certificate does not verify against the caBundle: %v", err)
	}
	conn.Close()
}

func createNamespace(t *testing.T, client kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager runs: the service account admission needs
	// the namespace's default account made by hand.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := client.CoreV1().ServiceAccounts(name).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.com/web:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
}

// waitForInjection dry-runs pod creation until the API server calls the
// webhook (it picks up new configurations asynchronously).
func waitForInjection(t *testing.T, client kubernetes.Interface, namespace string) {
	t.Helper()
	waitLong(t, "the API server to call the injection webhook", func() bool {
		pod, err := client.CoreV1().Pods(namespace).Create(t.Context(), testPod("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && len(pod.Spec.Containers) > 1
	})
}

func createPod(t *testing.T, client kubernetes.Interface, namespace, name string) *corev1.Pod {
	t.Helper()
	if _, err := client.CoreV1().Pods(namespace).Create(t.Context(), testPod(name), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s/%s: %v", namespace, name, err)
	}
	stored, err := client.CoreV1().Pods(namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// checkInjected wants istiod's sidecar with serve's settings in the
// stored pod.
func checkInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != "istio-init" {
		t.Fatalf("init containers %v, want istio-init", pod.Spec.InitContainers)
	}
	if len(pod.Spec.Containers) != 2 || pod.Spec.Containers[1].Name != inject.ProxyContainerName {
		t.Fatalf("containers %v, want web and istio-proxy", pod.Spec.Containers)
	}
	env := map[string]string{}
	for _, e := range pod.Spec.Containers[1].Env {
		env[e.Name] = e.Value
	}
	for name, want := range map[string]string{"CA_ADDR": inject.DefaultDiscoveryAddress, "ISTIO_META_CLUSTER_ID": "aws",
		"ISTIO_META_NETWORK": "net-aws", "ISTIO_META_WORKLOAD_NAME": "web", "TRUST_DOMAIN": certs.DefaultTrustDomain} {
		if env[name] != want {
			t.Errorf("istio-proxy env %s = %q, want %q", name, env[name], want)
		}
	}
	if pod.Spec.Containers[1].Image != inject.DefaultIstioImage || pod.Labels["security.istio.io/tlsMode"] != "istio" ||
		pod.Annotations[inject.AnnotationStatus] == "" {
		t.Errorf("image %q, labels %v, annotations %v", pod.Spec.Containers[1].Image, pod.Labels, pod.Annotations)
	}
	t.Logf("stored pod %s/%s injected: %d init containers, %d containers, %d volumes", pod.Namespace, pod.Name,
		len(pod.Spec.InitContainers), len(pod.Spec.Containers), len(pod.Spec.Volumes))
}

func waitForLogMatch(t *testing.T, logs *serveLogBuffer, re *regexp.Regexp) string {
	t.Helper()
	var match string
	waitLong(t, fmt.Sprintf("%q in the log", re), func() bool {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			match = m[1]
		}
		return match != ""
	})
	return match
}

// waitLong polls cond for up to 30 s: API server and webhook changes
// are asynchronous, and the machine may be loaded.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
