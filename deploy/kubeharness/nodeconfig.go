package kubeharness

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// cniBinDir is where Debian's containernetworking-plugins installs the
// plugins.
const cniBinDir = "/usr/lib/cni"

// nodePaths are the files and directories of one node, all under its
// directory so that leftovers are found by path.
type nodePaths struct{ dir string }

func (p nodePaths) file(name string) string  { return filepath.Join(p.dir, name) }
func (p nodePaths) containerdConfig() string { return p.file("containerd.toml") }
func (p nodePaths) socket() string           { return p.file("containerd.sock") }
func (p nodePaths) cniConfDir() string       { return p.file("cni") }
func (p nodePaths) kubeletConfig() string    { return p.file("kubelet.yaml") }
func (p nodePaths) kubeletRoot() string      { return p.file("kubelet") }
func (p nodePaths) kubeletKubeconfig() string {
	return p.file("kubelet.kubeconfig")
}
func (p nodePaths) proxyKubeconfig() string { return p.file("kube-proxy.kubeconfig") }

// containerdConfig is a containerd 1.6 configuration whose every path
// (root, state, sockets, runc's state, pods' network namespaces, CNI) is
// the node's own, so several containerds share a host. Sandboxes use the
// harness's pause image; oom_score_adj is left to the kernel's bounds
// (root here may lack CAP_SYS_RESOURCE, and runc then fails to lower it).
func containerdConfig(p nodePaths) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %[9]q
        SystemdCgroup = false
`, p.file("containerd/root"), p.file("containerd/state"), p.socket(), p.socket()+".ttrpc",
		p.file("containerd/opt"), nodeimages.PauseRef, cniBinDir, p.cniConfDir(), p.file("runc"))
}

// cniConfig is the node's CNI network: a bridge holding the node's pod
// range, its address the pods' default gateway, host-local addresses kept
// in the node's directory, and portmap for hostPort.
func cniConfig(p nodePaths, n *nodeNet) ([]byte, error) {
	gateway := n.podCIDR.Addr().Next()
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "kubeharness",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": n.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.podCIDR.String(), "gateway": gateway.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": p.file("cni-ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletPort is the kubelet's API port, on the node's own address.
const kubeletPort = 10250

// kubeletConfig is the node's KubeletConfiguration: cgroupfs under its
// own cgroup root on a cgroup v1 host, its own containerd, its API on the
// node's address with anonymous access (test clusters only), no eviction
// or image garbage collection (a shared disk's fill level is not the
// test's business), no cluster DNS, pod logs in its directory.
func kubeletConfig(p nodePaths, n *nodeNet, cgroupRoot string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %[1]q
containerRuntimeEndpoint: %[2]q
address: %[3]q
port: %[4]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
failSwapOn: false
enforceNodeAllocatable: []
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podLogsDir: %[5]q
resolvConf: ""
staticPodPath: ""
serializeImagePulls: false
maxPods: 110
`, "/"+cgroupRoot, "unix://"+p.socket(), n.nodeIP.String(), kubeletPort, p.file("pod-logs"))
}

// kubeletArgs runs the kubelet of node name at the node's address.
func kubeletArgs(p nodePaths, name string, n *nodeNet) []string {
	return []string{
		"--config=" + p.kubeletConfig(),
		"--kubeconfig=" + p.kubeletKubeconfig(),
		"--root-dir=" + p.kubeletRoot(),
		"--cert-dir=" + p.file("kubelet-pki"),
		"--hostname-override=" + name,
		"--node-ip=" + n.nodeIP.String(),
	}
}

// proxyArgs runs kube-proxy in iptables mode, in the node's namespace; it
// leaves conntrack's sysctls alone (they are the host's, not the
// namespace's, and read-only from it).
func proxyArgs(p nodePaths, name string, n *nodeNet) []string {
	return []string{
		"--kubeconfig=" + p.proxyKubeconfig(),
		"--hostname-override=" + name,
		"--proxy-mode=iptables",
		"--cluster-cidr=" + n.podCIDR.String(),
		"--bind-address=" + n.nodeIP.String(),
		"--healthz-bind-address=127.0.0.1:10256",
		"--metrics-bind-address=127.0.0.1:10249",
		"--conntrack-max-per-core=0",
		"--conntrack-tcp-timeout-established=0",
		"--conntrack-tcp-timeout-close-wait=0",
		"--v=1",
	}
}
