package inject

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// Every injected pod of the goldens, in both modes, is a pod a real
// kube-apiserver accepts (native sidecars, probes, projected token,
// downward API and all).
func TestInjectedPodsAcceptedByARealAPIServer(t *testing.T) {
	c := kubeharness.StartT(t, kubeharness.Options{Name: "inject-pods"})
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.in.yaml (%v)", err)
	}
	made := map[string]bool{}
	for _, in := range inputs {
		gc := readCase(t, in)
		pod, err := Pod(&gc.Pod, gc.Namespace, gc.Config)
		if err != nil {
			t.Fatal(err)
		}
		pod.OwnerReferences = nil // the owners do not exist
		makeServiceAccount(t, c, made, gc.Namespace, cmpOr(pod.Spec.ServiceAccountName, "default"))
		stored, err := c.Client.CoreV1().Pods(gc.Namespace).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("%s: the API server refuses the injected pod: %v", in, err)
			continue
		}
		t.Logf("%s: accepted %s/%s with %d init containers and %d containers", filepath.Base(in), stored.Namespace,
			stored.Name, len(stored.Spec.InitContainers), len(stored.Spec.Containers))
	}
}

// makeServiceAccount creates a namespace and service account once (no
// controller manager runs to make them).
func makeServiceAccount(t *testing.T, c *kubeharness.Cluster, made map[string]bool, namespace, name string) {
	t.Helper()
	if !made[namespace] {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
		if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		made[namespace] = true
	}
	if made[namespace+"/"+name] {
		return
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	made[namespace+"/"+name] = true
}
