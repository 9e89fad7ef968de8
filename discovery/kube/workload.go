package kube

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Labels Istio reads or adds on workloads.
const (
	labelNetwork       = "topology.istio.io/network"
	labelCluster       = "topology.istio.io/cluster"
	labelSubzone       = "topology.istio.io/subzone"
	labelIstioLocality = "istio-locality"
	labelRegion        = corev1.LabelTopologyRegion // topology.kubernetes.io/region
	labelZone          = corev1.LabelTopologyZone   // topology.kubernetes.io/zone
	labelHostname      = corev1.LabelHostname       // kubernetes.io/hostname
	// Labels of older clusters, read when the GA ones are missing.
	labelRegionBeta = corev1.LabelFailureDomainBetaRegion
	labelZoneBeta   = corev1.LabelFailureDomainBetaZone
)

// workload is what an endpoint takes from the pod behind it.
type workload struct {
	labels         map[string]string
	serviceAccount string
	network        string
	locality       string
}

// lookups reads pods, nodes and namespaces from the informers' caches.
type lookups struct {
	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	namespaces corelisters.NamespaceLister
	opts       Options
}

// workloadOf describes the workload behind an endpoint of a slice in
// namespace ns. An endpoint whose target pod is not (yet) known is left out
// (ok false): without the pod's labels it would lose its tlsMode and
// subsets. An endpoint without a pod (a selector-less service) has only
// the topology labels.
func (l lookups) workloadOf(ns string, ep discoveryv1.Endpoint) (workload, bool) {
	var pod *corev1.Pod
	if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
		if ref.Namespace != "" {
			ns = ref.Namespace
		}
		p, err := l.pods.Pods(ns).Get(ref.Name)
		if err != nil {
			return workload{}, false
		}
		pod = p
	}
	nodeName := endpointNode(pod, ep)
	w := workload{
		locality: l.locality(pod, nodeName),
		network:  l.network(pod, ns),
	}
	if pod != nil {
		w.serviceAccount = pod.Spec.ServiceAccountName
		w.labels = pod.Labels
	}
	w.labels = l.augmentLabels(w.labels, w.locality, nodeName, w.network)
	return w, true
}

// endpointNode is the node a pod runs on, else the one the slice names.
func endpointNode(pod *corev1.Pod, ep discoveryv1.Endpoint) string {
	if pod != nil && pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	if ep.NodeName != nil {
		return *ep.NodeName
	}
	return ""
}

// locality is the pod's istio-locality label ('.' separated), else
// region/zone/subzone from its node's topology labels, without trailing
// empty parts (as xds/model writes a proxy's locality); empty when unknown.
func (l lookups) locality(pod *corev1.Pod, nodeName string) string {
	if pod != nil && pod.Labels[labelIstioLocality] != "" {
		return strings.TrimRight(strings.ReplaceAll(pod.Labels[labelIstioLocality], ".", "/"), "/")
	}
	if nodeName == "" {
		return ""
	}
	node, err := l.nodes.Get(nodeName)
	if err != nil {
		return ""
	}
	region := firstLabel(node.Labels, labelRegion, labelRegionBeta)
	zone := firstLabel(node.Labels, labelZone, labelZoneBeta)
	subzone := node.Labels[labelSubzone]
	return strings.TrimRight(region+"/"+zone+"/"+subzone, "/")
}

func firstLabel(labels map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// network is the pod's topology.istio.io/network label, else its
// namespace's, else the registry's default network.
func (l lookups) network(pod *corev1.Pod, ns string) string {
	if pod != nil && pod.Labels[labelNetwork] != "" {
		return pod.Labels[labelNetwork]
	}
	if n, err := l.namespaces.Get(ns); err == nil && n.Labels[labelNetwork] != "" {
		return n.Labels[labelNetwork]
	}
	return l.opts.Network
}

// augmentLabels copies a pod's labels and adds the topology labels Istio
// adds, so that subsets can select by cluster, network, node or locality.
func (l lookups) augmentLabels(in map[string]string, locality, nodeName, network string) map[string]string {
	out := make(map[string]string, len(in)+6)
	maps.Copy(out, in)
	parts := strings.SplitN(locality, "/", 3)
	setIfValue(out, labelRegion, parts[0])
	if len(parts) > 1 {
		setIfValue(out, labelZone, parts[1])
	}
	if len(parts) > 2 {
		setIfValue(out, labelSubzone, parts[2])
	}
	setIfValue(out, labelCluster, l.opts.ClusterID)
	setIfValue(out, labelHostname, nodeName)
	if out[labelNetwork] == "" {
		setIfValue(out, labelNetwork, network)
	}
	return out
}

func setIfValue(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}
