package inject

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
)

// Volumes and files of Isthmus's own sidecar.
const (
	volumeCredential = "isthmus-credential" // isthmus agent's output: the workload certificate
	volumeEnvoy      = "isthmus-envoy"      // isthmus bootstrap's output: bootstrap and SDS files
	mountCredential  = "/etc/isthmus/credential"
	mountEnvoy       = "/etc/isthmus/envoy"
	bootstrapFile    = mountEnvoy + "/envoy.yaml"
	defaultConcur    = 2
)

// isthmusSidecar is Isthmus's plain-Envoy sidecar. Init containers, in
// order: the capture rules (`isthmus capture`, root with NET_ADMIN), a
// first credential (`isthmus agent --once`), the agent renewing it as a
// native sidecar, the bootstrap (`isthmus bootstrap`), and Envoy itself as
// a native sidecar, so it starts before and stops after the application.
// Everything but the capture runs as uid 1337, whose traffic is not
// captured.
func isthmusSidecar(pod *corev1.Pod, cfg Config, pc podConfig) sidecar {
	always := corev1.ContainerRestartPolicyAlways
	agent := isthmusAgent(cfg, false)
	agent.RestartPolicy = &always
	proxy := isthmusEnvoy(cfg, pc)
	proxy.RestartPolicy = &always
	return sidecar{
		initContainers: []corev1.Container{isthmusCapture(cfg, pc), isthmusAgent(cfg, true), agent, isthmusBootstrap(pod, cfg, pc), proxy},
		volumes:        append([]corev1.Volume{emptyDir(volumeCredential, true), emptyDir(volumeEnvoy, true)}, sharedVolumes()...),
	}
}

func isthmusCapture(cfg Config, pc podConfig) corev1.Container {
	c := pc.capture
	args := []string{"capture", "--inbound-ports=" + cmpOr(c.InboundPorts, "*")}
	if len(c.ExcludeInboundPorts) > 0 {
		args = append(args, "--exclude-inbound-ports="+iptables.JoinPorts(c.ExcludeInboundPorts))
	}
	if len(c.ExcludeOutboundPorts) > 0 {
		args = append(args, "--exclude-outbound-ports="+iptables.JoinPorts(c.ExcludeOutboundPorts))
	}
	if len(c.ExcludeOutboundCIDRs) > 0 {
		args = append(args, "--exclude-outbound-ip-ranges="+strings.Join(c.ExcludeOutboundCIDRs, ","))
	}
	return corev1.Container{Name: "isthmus-capture", Image: cfg.Image, Command: []string{"isthmus"}, Args: args,
		ImagePullPolicy: corev1.PullIfNotPresent, Resources: resources("10m", "16Mi", "1", "64Mi"), SecurityContext: captureSecurity()}
}

// isthmusAgent exchanges the projected token for a certificate; once: a
// single fetch (the init container), else renewal until the pod ends.
func isthmusAgent(cfg Config, once bool) corev1.Container {
	name, args := "isthmus-agent", []string{"agent"}
	if once {
		name, args = "isthmus-credential", append(args, "--once")
	}
	args = append(args, "--ca-address="+cfg.DiscoveryAddress, "--ca-server-name="+cfg.serverName(),
		"--root-cert="+mountRootCert+"/root-cert.pem", "--token-file="+mountToken+"/"+volumeToken,
		"--cluster-id="+cfg.ClusterID, "--trust-domain="+cfg.TrustDomain, "--output-dir="+mountCredential)
	return corev1.Container{Name: name, Image: cfg.Image, Command: []string{"isthmus"}, Args: args,
		ImagePullPolicy: corev1.PullIfNotPresent, Resources: resources("10m", "16Mi", "1", "64Mi"), SecurityContext: proxySecurity(),
		VolumeMounts: []corev1.VolumeMount{mount(volumeToken, mountToken), mount(volumeRootCert, mountRootCert), mount(volumeCredential, mountCredential)}}
}

// isthmusBootstrap writes Envoy's bootstrap: ADS over TLS to the secure
// port with the agent's credential through file-watched SDS, node id and
// metadata from the downward API as istio-proxy sends them. ADS is delta
// xDS: over state of the world each acknowledgement of a load assignment
// names every one the sidecar subscribes to (4,000 in a mesh of 1,000
// services without Sidecar resources), which the sidecar encodes and
// Isthmus reads for every endpoint change.
func isthmusBootstrap(pod *corev1.Pod, cfg Config, pc podConfig) corev1.Container {
	args := []string{"bootstrap", "--output=" + bootstrapFile, "--delta",
		"--xds-address=" + cfg.DiscoveryAddress, "--xds-server-name=" + cfg.serverName(),
		"--xds-root-cert=" + mountRootCert + "/root-cert.pem",
		"--xds-client-cert=" + mountCredential + "/cert-chain.pem", "--xds-client-key=" + mountCredential + "/key.pem",
		"--xds-sds-dir=" + mountEnvoy,
		"--node-id=sidecar~$(INSTANCE_IP)~$(POD_NAME).$(POD_NAMESPACE)~$(POD_NAMESPACE).svc." + clusterDomain,
		"--labels-file=" + mountPodInfo + "/" + labelsFile,
	}
	for _, kv := range nodeMetadata(pod, cfg, pc) {
		args = append(args, "--meta="+kv)
	}
	return corev1.Container{Name: "isthmus-bootstrap", Image: cfg.Image, Command: []string{"isthmus"}, Args: args,
		Env: downwardEnv(), ImagePullPolicy: corev1.PullIfNotPresent, Resources: resources("10m", "16Mi", "1", "64Mi"),
		SecurityContext: proxySecurity(),
		VolumeMounts: []corev1.VolumeMount{mount(volumePodInfo, mountPodInfo), mount(volumeRootCert, mountRootCert),
			mount(volumeCredential, mountCredential), mount(volumeEnvoy, mountEnvoy)}}
}

// nodeMetadata is KEY=VALUE node metadata as istio-agent sends it
// (ISTIO_META_* of the proxy's environment, without the prefix), plus the
// proxyMetadata entries named ISTIO_META_*.
func nodeMetadata(pod *corev1.Pod, cfg Config, pc podConfig) []string {
	md := []string{
		"NAMESPACE=$(POD_NAMESPACE)", "NAME=$(POD_NAME)", "SERVICE_ACCOUNT=$(SERVICE_ACCOUNT)",
		"INSTANCE_IPS=$(INSTANCE_IP)", "NODE_NAME=$(NODE_NAME)", "CLUSTER_ID=" + cfg.ClusterID,
		"MESH_ID=" + cfg.MeshID, "INTERCEPTION_MODE=" + interceptRedir, "WORKLOAD_NAME=" + pc.workload.name,
		"APP_CONTAINERS=" + appContainers(pod), "POD_PORTS=" + podPorts(pod),
	}
	if cfg.Network != "" {
		md = append(md, "NETWORK="+cfg.Network)
	}
	if pc.workload.ownerURI != "" {
		md = append(md, "OWNER="+pc.workload.ownerURI)
	}
	for _, e := range proxyMetadataEnv(pc.proxy) {
		if key, ok := strings.CutPrefix(e.Name, "ISTIO_META_"); ok && key != "" {
			md = append(md, key+"="+e.Value)
		}
	}
	slices.Sort(md)
	return md
}

// isthmusEnvoy is Envoy as uid 1337 on the bootstrap, its concurrency from
// proxy.istio.io/config (default 2). With holdApplicationUntilProxyStarts
// a startup probe holds the application until Envoy has its inbound
// listener (15006), that is until Isthmus configured it.
func isthmusEnvoy(cfg Config, pc podConfig) corev1.Container {
	concurrency := defaultConcur
	if v := pc.proxy.GetConcurrency(); v != nil && v.GetValue() > 0 {
		concurrency = int(v.GetValue())
	}
	c := corev1.Container{Name: isthmusProxyName, Image: cfg.Image, Command: []string{"envoy"},
		Args:            []string{"-c", bootstrapFile, "--concurrency", strconv.Itoa(concurrency), "--drain-time-s", "45", "--disable-hot-restart", "--log-level", "warning"},
		Env:             proxyMetadataEnv(pc.proxy),
		ImagePullPolicy: corev1.PullIfNotPresent, Resources: resources("100m", "128Mi", "2", "1Gi"), SecurityContext: proxySecurity(),
		VolumeMounts: []corev1.VolumeMount{mount(volumeEnvoy, mountEnvoy), mount(volumeCredential, mountCredential), mount(volumeRootCert, mountRootCert)}}
	if holdApplication(pc.proxy) {
		c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(iptables.InboundCapturePort)}},
			PeriodSeconds: 1, TimeoutSeconds: 3, FailureThreshold: 600}
	}
	return c
}
