package inject

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Labels and annotations that decide injection, as Istio names them.
const (
	LabelInjection     = "istio-injection"         // namespace: enabled or disabled
	LabelRevision      = "istio.io/rev"            // namespace or pod: the control plane revision
	LabelSidecarInject = "sidecar.istio.io/inject" // pod label (or annotation): true or false
	AnnotationStatus   = "sidecar.istio.io/status" // set on injected pods
	DefaultRevision    = "default"
	ProxyContainerName = "istio-proxy"
	isthmusProxyName   = "isthmus-proxy"
	injectionEnabled   = "enabled"
	injectionDisabled  = "disabled"
)

// ignoredNamespaces never get sidecars, as in Istio.
var ignoredNamespaces = map[string]bool{
	"kube-system": true, "kube-public": true, "kube-node-lease": true, "local-path-storage": true,
}

// Decision says whether a pod gets a sidecar, and why.
type Decision struct {
	Inject bool
	Reason string
}

// Decide applies Istio's injection rules to a pod being created in
// namespace (with its labels) for the control plane of revision ("" is
// DefaultRevision):
//   - never for hostNetwork pods, pods already injected, and Kubernetes'
//     own namespaces, nor in a namespace labelled istio-injection=disabled;
//   - a pod's sidecar.istio.io/inject (label, else annotation) other than
//     true/yes/on/y refuses;
//   - a namespace labelled istio-injection=enabled belongs to the default
//     revision; one labelled istio.io/rev (and no istio-injection) to that
//     revision;
//   - in a namespace with neither label, a pod labelled istio.io/rev
//     belongs to that revision, and one labelled sidecar.istio.io/inject=true
//     to the default revision (annotations do not select, as Istio's
//     webhook object selectors see labels only).
func Decide(namespace string, nsLabels map[string]string, pod *corev1.Pod, revision string) Decision {
	if revision == "" {
		revision = DefaultRevision
	}
	if d, done := refusal(namespace, nsLabels, pod); done {
		return d
	}
	if v, ok := nsLabels[LabelInjection]; ok {
		return byRevision(v == injectionEnabled && revision == DefaultRevision, "namespace label "+LabelInjection+"="+v)
	}
	if v, ok := nsLabels[LabelRevision]; ok {
		return byRevision(v == revision, "namespace label "+LabelRevision+"="+v)
	}
	if v, ok := pod.Labels[LabelRevision]; ok {
		return byRevision(v == revision, "pod label "+LabelRevision+"="+v)
	}
	if v, ok := pod.Labels[LabelSidecarInject]; ok && truthy(v) {
		return byRevision(revision == DefaultRevision, "pod label "+LabelSidecarInject+"="+v)
	}
	return Decision{Reason: "neither namespace nor pod asks for injection"}
}

// refusal is the decision for pods that never get a sidecar here.
func refusal(namespace string, nsLabels map[string]string, pod *corev1.Pod) (Decision, bool) {
	switch {
	case pod.Spec.HostNetwork:
		return Decision{Reason: "hostNetwork pod"}, true
	case injected(pod):
		return Decision{Reason: "already injected"}, true
	case ignoredNamespaces[namespace]:
		return Decision{Reason: "namespace " + namespace + " is never injected"}, true
	case nsLabels[LabelInjection] == injectionDisabled:
		return Decision{Reason: "namespace label " + LabelInjection + "=" + injectionDisabled}, true
	}
	if v, where, ok := podInjectValue(pod); ok && !truthy(v) {
		return Decision{Reason: "pod " + where + " " + LabelSidecarInject + "=" + v}, true
	}
	return Decision{}, false
}

func byRevision(ours bool, why string) Decision {
	if !ours {
		return Decision{Reason: why + " selects another revision"}
	}
	return Decision{Inject: true, Reason: why}
}

// podInjectValue is sidecar.istio.io/inject from the pod's label, else its
// annotation.
func podInjectValue(pod *corev1.Pod) (value, where string, ok bool) {
	if v, ok := pod.Labels[LabelSidecarInject]; ok {
		return v, "label", true
	}
	if v, ok := pod.Annotations[LabelSidecarInject]; ok {
		return v, "annotation", true
	}
	return "", "", false
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "y":
		return true
	}
	return false
}

// injected reports whether the pod already carries a sidecar.
func injected(pod *corev1.Pod) bool {
	if _, ok := pod.Annotations[AnnotationStatus]; ok {
		return true
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == ProxyContainerName || c.Name == isthmusProxyName {
				return true
			}
		}
	}
	return false
}
