package inject

import (
	"encoding/json"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
)

// Ports of istio-proxy.
const (
	statusPort     = 15021 // /healthz/ready
	agentPort      = 15020
	prometheusPort = 15090
)

// istioAgentSidecar is istiod's sidecar: the istio-init container running
// istio-iptables and the istio-proxy container running istio-agent.
func istioAgentSidecar(pod *corev1.Pod, cfg Config, pc podConfig) sidecar {
	proxy := istioProxy(pod, cfg, pc)
	return sidecar{
		initContainers: []corev1.Container{istioInit(cfg, pc)},
		proxy:          proxy,
		proxyFirst:     holdApplication(pc.proxy),
		volumes: append([]corev1.Volume{
			emptyDir("workload-socket", false), emptyDir("credential-socket", false), emptyDir("workload-certs", false),
			emptyDir("istio-envoy", true), emptyDir("istio-data", false),
		}, sharedVolumes()...),
	}
}

// istioInit is istio-iptables with istiod's default arguments and the
// pod's traffic annotations.
func istioInit(cfg Config, pc podConfig) corev1.Container {
	c := pc.capture
	inbound := c.InboundPorts
	switch inbound {
	case "":
		inbound = "*"
	case "-":
		inbound = ""
	}
	excludeIn := append([]int{prometheusPort, statusPort, agentPort}, c.ExcludeInboundPorts...)
	args := []string{"istio-iptables",
		"-p", strconv.Itoa(iptables.OutboundCapturePort), "-z", strconv.Itoa(iptables.InboundCapturePort),
		"-u", strconv.Itoa(proxyUID), "-m", interceptRedir, "-i", "*", "-x", strings.Join(c.ExcludeOutboundCIDRs, ","),
		"-b", inbound, "-d", iptables.JoinPorts(excludeIn), "--log_output_level=default:info"}
	if len(c.ExcludeOutboundPorts) > 0 {
		args = append(args, "-o", iptables.JoinPorts(c.ExcludeOutboundPorts))
	}
	return corev1.Container{
		Name: "istio-init", Image: cfg.Image, Args: args, ImagePullPolicy: corev1.PullIfNotPresent,
		Resources: resources("10m", "40Mi", "2", "1Gi"), SecurityContext: captureSecurity(),
	}
}

// istioProxy is the istio-proxy container: `pilot-agent proxy sidecar`
// with the environment istio-agent reads.
func istioProxy(pod *corev1.Pod, cfg Config, pc podConfig) corev1.Container {
	c := corev1.Container{
		Name: ProxyContainerName, Image: cfg.Image, ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc." + clusterDomain,
			"--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"},
		Ports:           []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: prometheusPort, Protocol: corev1.ProtocolTCP}},
		Env:             istioProxyEnv(pod, cfg, pc),
		ReadinessProbe:  &corev1.Probe{ProbeHandler: readyHandler(), PeriodSeconds: 15, TimeoutSeconds: 3, FailureThreshold: 4},
		StartupProbe:    &corev1.Probe{ProbeHandler: readyHandler(), PeriodSeconds: 1, TimeoutSeconds: 3, FailureThreshold: 600},
		Resources:       resources("100m", "128Mi", "2", "1Gi"),
		SecurityContext: proxySecurity(),
		VolumeMounts: []corev1.VolumeMount{
			mount("workload-socket", "/var/run/secrets/workload-spiffe-uds"),
			mount("credential-socket", "/var/run/secrets/credential-uds"),
			mount("workload-certs", "/var/run/secrets/workload-spiffe-credentials"),
			mount(volumeRootCert, mountRootCert),
			mount("istio-data", "/var/lib/istio/data"),
			mount("istio-envoy", "/etc/istio/proxy"),
			mount(volumeToken, mountToken),
			mount(volumePodInfo, mountPodInfo),
		},
	}
	if holdApplication(pc.proxy) {
		c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"pilot-agent", "wait"}}}}
	}
	return c
}

func readyHandler() corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz/ready", Port: intstr.FromInt32(statusPort)}}
}

// istioProxyEnv is what istio-agent reads: the CA and discovery address,
// the pod's identity, node metadata (ISTIO_META_*) and PROXY_CONFIG.
func istioProxyEnv(pod *corev1.Pod, cfg Config, pc podConfig) []corev1.EnvVar {
	resourceEnv := func(name, res string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			Resource: res, Divisor: resource.MustParse("1")}}}
	}
	env := []corev1.EnvVar{
		{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
		{Name: "CA_ADDR", Value: cfg.DiscoveryAddress},
	}
	env = append(env, downwardEnv()...)
	env = append(env,
		resourceEnv("ISTIO_CPU_LIMIT", "limits.cpu"),
		corev1.EnvVar{Name: "PROXY_CONFIG", Value: proxyConfigJSON(pc.proxy)},
		corev1.EnvVar{Name: "ISTIO_META_POD_PORTS", Value: podPorts(pod)},
		corev1.EnvVar{Name: "ISTIO_META_APP_CONTAINERS", Value: appContainers(pod)},
		resourceEnv("GOMEMLIMIT", "limits.memory"),
		resourceEnv("GOMAXPROCS", "limits.cpu"),
		corev1.EnvVar{Name: "ISTIO_META_CLUSTER_ID", Value: cfg.ClusterID},
		corev1.EnvVar{Name: "ISTIO_META_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		corev1.EnvVar{Name: "ISTIO_META_INTERCEPTION_MODE", Value: interceptRedir},
	)
	if cfg.Network != "" {
		env = append(env, corev1.EnvVar{Name: "ISTIO_META_NETWORK", Value: cfg.Network})
	}
	env = append(env, corev1.EnvVar{Name: "ISTIO_META_WORKLOAD_NAME", Value: pc.workload.name})
	if pc.workload.ownerURI != "" {
		env = append(env, corev1.EnvVar{Name: "ISTIO_META_OWNER", Value: pc.workload.ownerURI})
	}
	env = append(env,
		corev1.EnvVar{Name: "ISTIO_META_MESH_ID", Value: cfg.MeshID},
		corev1.EnvVar{Name: "TRUST_DOMAIN", Value: cfg.TrustDomain},
	)
	return append(env, proxyMetadataEnv(pc.proxy)...)
}

// podPorts is the JSON list of the application containers' ports.
func podPorts(pod *corev1.Pod) string {
	ports := []corev1.ContainerPort{}
	for _, c := range pod.Spec.Containers {
		ports = append(ports, c.Ports...)
	}
	js, _ := json.Marshal(ports)
	return string(js)
}

// appContainers is the application containers' names, comma-separated.
func appContainers(pod *corev1.Pod) string {
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	return strings.Join(names, ",")
}
