package inject

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Volumes and mount points shared by both modes, as Istio names them.
const (
	volumeToken     = "istio-token"
	volumeRootCert  = "istiod-ca-cert"
	volumePodInfo   = "istio-podinfo"
	mountToken      = "/var/run/secrets/tokens"
	mountRootCert   = "/var/run/secrets/istio"
	mountPodInfo    = "/etc/istio/pod"
	rootCertConfig  = "istio-ca-root-cert" // the ConfigMap of the mesh roots in every namespace
	tokenAudience   = "istio-ca"
	tokenLifetime   = 43200 // seconds, as istiod's injector
	clusterDomain   = "cluster.local"
	proxyUID        = 1337
	interceptRedir  = "REDIRECT"
	labelsFile      = "labels"
	annotationsFile = "annotations"
)

// sharedVolumes are the projected token (audience istio-ca), the mesh
// roots and the pod's labels and annotations.
func sharedVolumes() []corev1.Volume {
	expiry := int64(tokenLifetime)
	return []corev1.Volume{
		{Name: volumePodInfo, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{
				{Path: labelsFile, FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: annotationsFile, FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
			}}}},
		{Name: volumeToken, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: tokenAudience, ExpirationSeconds: &expiry, Path: volumeToken}}}}}},
		{Name: volumeRootCert, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: rootCertConfig}}}},
	}
}

func emptyDir(name string, memory bool) corev1.Volume {
	src := &corev1.EmptyDirVolumeSource{}
	if memory {
		src.Medium = corev1.StorageMediumMemory
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: src}}
}

// downwardEnv is the pod's identity and address from the downward API.
func downwardEnv() []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("INSTANCE_IP", "status.podIP"),
		field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		field("HOST_IP", "status.hostIP"),
		field("NODE_NAME", "spec.nodeName"),
	}
}

// proxySecurity runs a container as the proxy user, with no privileges.
func proxySecurity() *corev1.SecurityContext {
	uid, no, yes := int64(proxyUID), false, true
	return &corev1.SecurityContext{
		RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &yes,
		AllowPrivilegeEscalation: &no, Privileged: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// captureSecurity runs the capture init container as root with the
// capabilities iptables needs, and no others.
func captureSecurity() *corev1.SecurityContext {
	root, no := int64(0), false
	return &corev1.SecurityContext{
		RunAsUser: &root, RunAsGroup: &root, RunAsNonRoot: &no,
		AllowPrivilegeEscalation: &no, Privileged: &no, ReadOnlyRootFilesystem: &no,
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"}},
	}
}

// resources are requests and limits as cpu and memory quantities.
func resources(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse(memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim), corev1.ResourceMemory: resource.MustParse(memLim)},
	}
}

func mount(volume, path string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: volume, MountPath: path}
}
