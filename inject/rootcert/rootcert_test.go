package rootcert

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

// On a real kube-apiserver: every namespace but Kubernetes' own gets the
// roots, new roots replace them, and a ConfigMap someone else made is
// reported and left alone.
func TestSyncOnARealAPIServer(t *testing.T) {
	c := kubeharness.StartT(t, kubeharness.Options{Name: "rootcert"})
	ctx := t.Context()
	for _, name := range []string{"shop", "payments", "foreign"} {
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName}, Data: map[string]string{DataKey: "istiod's root"}}
	if _, err := c.Client.CoreV1().ConfigMaps("foreign").Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	err := Sync(ctx, c.Client, []byte("root one"))
	if err == nil || !strings.Contains(err.Error(), "namespace foreign") || strings.Contains(err.Error(), "namespace shop") {
		t.Fatalf("Sync: %v, want only namespace foreign reported", err)
	}
	want := map[string]string{"default": "root one", "shop": "root one", "payments": "root one", "foreign": "istiod's root", "kube-system": ""}
	checkRoots(t, c, want)

	_ = Sync(ctx, c.Client, []byte("root two"))
	want["default"], want["shop"], want["payments"] = "root two", "root two", "root two"
	checkRoots(t, c, want)
}

func checkRoots(t *testing.T, c *kubeharness.Cluster, want map[string]string) {
	t.Helper()
	for ns, roots := range want {
		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), ConfigMapName, metav1.GetOptions{})
		got := ""
		if err == nil {
			got = cm.Data[DataKey]
		}
		if got != roots {
			t.Errorf("namespace %s: %s holds %q, want %q", ns, ConfigMapName, got, roots)
		}
	}
}
