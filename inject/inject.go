package inject

import (
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// sidecar is what one mode adds to a pod.
type sidecar struct {
	initContainers []corev1.Container // before the pod's own
	proxy          corev1.Container   // a regular container; zero when the proxy is an init container
	proxyFirst     bool               // the proxy goes before the application containers
	volumes        []corev1.Volume
}

// status is the sidecar.istio.io/status annotation: what was injected.
type status struct {
	InitContainers []string `json:"initContainers"`
	Containers     []string `json:"containers"`
	Volumes        []string `json:"volumes"`
	Revision       string   `json:"revision"`
}

// Pod returns a copy of pod with cfg's sidecar, its labels and
// annotations; pod itself is not changed. namespace is where the pod is
// created (the admission request's, when the pod names none). An error
// names the annotation that could not be read.
func Pod(pod *corev1.Pod, namespace string, cfg Config) (*corev1.Pod, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	out := pod.DeepCopy()
	if out.Namespace == "" {
		out.Namespace = namespace
	}
	pc, err := readPodConfig(out, cfg)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", out.Namespace, podName(out), err)
	}
	sc := istioAgentSidecar(out, cfg, pc)
	if cfg.Mode == ModeIsthmus {
		sc = isthmusSidecar(out, cfg, pc)
	}
	apply(out, sc)
	label(out, cfg, pc, sc)
	return out, nil
}

// apply adds sc's containers and volumes to pod.
func apply(pod *corev1.Pod, sc sidecar) {
	pod.Spec.InitContainers = append(append([]corev1.Container{}, sc.initContainers...), pod.Spec.InitContainers...)
	switch {
	case sc.proxy.Name == "":
	case sc.proxyFirst:
		pod.Spec.Containers = append([]corev1.Container{sc.proxy}, pod.Spec.Containers...)
	default:
		pod.Spec.Containers = append(pod.Spec.Containers, sc.proxy)
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, sc.volumes...)
}

// label sets Istio's labels of an injected pod (tlsMode, canonical name
// and revision) unless the pod has them, and the status and default
// container annotations.
func label(pod *corev1.Pod, cfg Config, pc podConfig, sc sidecar) {
	labels := map[string]string{
		labelTLSMode:           "istio",
		labelCanonicalName:     pc.workload.canonical,
		labelCanonicalRevision: pc.workload.canonRev,
	}
	maps.Copy(labels, pod.Labels)
	pod.Labels = labels
	pod.Annotations = maps.Clone(pod.Annotations)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationStatus] = statusOf(cfg, sc)
	if _, ok := pod.Annotations[annotationDefaultContainer]; !ok && pc.workload.firstAppCt != "" {
		pod.Annotations[annotationDefaultContainer] = pc.workload.firstAppCt
	}
}

// annotationDefaultContainer is the container kubectl logs and exec pick.
const annotationDefaultContainer = "kubectl.kubernetes.io/default-container"

func statusOf(cfg Config, sc sidecar) string {
	st := status{Revision: cfg.Revision, InitContainers: []string{}, Containers: []string{}, Volumes: []string{}}
	for _, c := range sc.initContainers {
		st.InitContainers = append(st.InitContainers, c.Name)
	}
	if sc.proxy.Name != "" {
		st.Containers = append(st.Containers, sc.proxy.Name)
	}
	for _, v := range sc.volumes {
		st.Volumes = append(st.Volumes, v.Name)
	}
	js, _ := json.Marshal(st)
	return string(js)
}
