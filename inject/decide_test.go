package inject

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Istio's injection rules: who asks (namespace label, pod label or
// annotation, revision) and who is never injected.
func TestDecide(t *testing.T) {
	enabled := map[string]string{LabelInjection: "enabled"}
	disabled := map[string]string{LabelInjection: "disabled"}
	revCanary := map[string]string{LabelRevision: "canary"}
	plain := map[string]string{}
	pod := func(labels, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: labels, Annotations: annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	}
	hostNet := pod(nil, nil)
	hostNet.Spec.HostNetwork = true
	withProxy := pod(nil, nil)
	withProxy.Spec.Containers = append(withProxy.Spec.Containers, corev1.Container{Name: ProxyContainerName})
	withNativeProxy := pod(nil, nil)
	withNativeProxy.Spec.InitContainers = []corev1.Container{{Name: isthmusProxyName}}
	injectLabel := func(v string) map[string]string { return map[string]string{LabelSidecarInject: v} }

	cases := []struct {
		name      string
		namespace string
		nsLabels  map[string]string
		pod       *corev1.Pod
		revision  string
		want      bool
	}{
		{"namespace enabled", "shop", enabled, pod(nil, nil), "", true},
		{"namespace enabled, default revision named", "shop", enabled, pod(nil, nil), "default", true},
		{"namespace enabled, pod label false", "shop", enabled, pod(injectLabel("false"), nil), "", false},
		{"namespace enabled, pod annotation false", "shop", enabled, pod(nil, injectLabel("false")), "", false},
		{"namespace enabled, label true wins over annotation false", "shop", enabled, pod(injectLabel("true"), injectLabel("false")), "", true},
		{"namespace enabled, label false wins over annotation true", "shop", enabled, pod(injectLabel("false"), injectLabel("true")), "", false},
		{"namespace enabled, pod label neither true nor false", "shop", enabled, pod(injectLabel("maybe"), nil), "", false},
		{"namespace enabled, another revision's control plane", "shop", enabled, pod(nil, nil), "canary", false},
		{"namespace disabled, pod label true", "shop", disabled, pod(injectLabel("true"), nil), "", false},
		{"plain namespace", "shop", plain, pod(nil, nil), "", false},
		{"plain namespace, pod label true", "shop", plain, pod(injectLabel("true"), nil), "", true},
		{"plain namespace, pod label yes", "shop", plain, pod(injectLabel("yes"), nil), "", true},
		{"plain namespace, pod annotation true only", "shop", plain, pod(nil, injectLabel("true")), "", false},
		{"plain namespace, pod label true, revision control plane", "shop", plain, pod(injectLabel("true"), nil), "canary", false},
		{"namespace revision, its control plane", "shop", revCanary, pod(nil, nil), "canary", true},
		{"namespace revision, default control plane", "shop", revCanary, pod(nil, nil), "", false},
		{"namespace revision, pod label false", "shop", revCanary, pod(injectLabel("false"), nil), "canary", false},
		{"istio-injection wins over istio.io/rev", "shop", map[string]string{LabelInjection: "enabled", LabelRevision: "canary"}, pod(nil, nil), "canary", false},
		{"plain namespace, pod revision label", "shop", plain, pod(map[string]string{LabelRevision: "canary"}, nil), "canary", true},
		{"plain namespace, pod revision label of another", "shop", plain, pod(map[string]string{LabelRevision: "canary"}, nil), "", false},
		{"hostNetwork", "shop", enabled, hostNet, "", false},
		{"already injected: status annotation", "shop", enabled, pod(nil, map[string]string{AnnotationStatus: "{}"}), "", false},
		{"already injected: istio-proxy container", "shop", enabled, withProxy, "", false},
		{"already injected: isthmus-proxy native sidecar", "shop", enabled, withNativeProxy, "", false},
		{"kube-system, pod label true", "kube-system", enabled, pod(injectLabel("true"), nil), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.namespace, c.nsLabels, c.pod, c.revision)
			if d.Inject != c.want || d.Reason == "" {
				t.Fatalf("Decide = %+v, want inject %v with a reason", d, c.want)
			}
		})
	}
}
