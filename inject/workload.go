package inject

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// workload names what a pod belongs to, as istiod's injector does.
type workload struct {
	name       string // the Deployment (or other controller), else the pod
	ownerURI   string // kubernetes://apis/GROUP/VERSION/namespaces/NS/KINDs/NAME; "" without a controller
	canonical  string // service.istio.io/canonical-name
	canonRev   string // service.istio.io/canonical-revision
	firstAppCt string // the pod's first container, kubectl's default
}

const (
	labelCanonicalName     = "service.istio.io/canonical-name"
	labelCanonicalRevision = "service.istio.io/canonical-revision"
	labelTLSMode           = "security.istio.io/tlsMode"
	labelTemplateHash      = "pod-template-hash"
)

// workloadOf reads the controller owner reference: a ReplicaSet whose name
// ends in the pod-template-hash is its Deployment.
func workloadOf(pod *corev1.Pod) workload {
	w := workload{name: podName(pod)}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		w.name = ref.Name
		apiVersion, kind := ref.APIVersion, ref.Kind
		if hash := pod.Labels[labelTemplateHash]; kind == "ReplicaSet" && hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
			w.name, kind = strings.TrimSuffix(ref.Name, "-"+hash), "Deployment"
		}
		w.ownerURI = "kubernetes://apis/" + apiVersion + "/namespaces/" + pod.Namespace + "/" + strings.ToLower(kind) + "s/" + w.name
	}
	w.canonical = firstLabel(pod.Labels, w.name, labelCanonicalName, "app.kubernetes.io/name", "app")
	w.canonRev = firstLabel(pod.Labels, "latest", labelCanonicalRevision, "app.kubernetes.io/version", "version")
	if len(pod.Spec.Containers) > 0 {
		w.firstAppCt = pod.Spec.Containers[0].Name
	}
	return w
}

// podName is the pod's name, or its generateName prefix without the dash.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return strings.TrimSuffix(pod.GenerateName, "-")
}

func firstLabel(labels map[string]string, def string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return def
}
