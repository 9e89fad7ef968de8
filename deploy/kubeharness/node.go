package kubeharness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeOptions configure one node of a cluster.
type NodeOptions struct {
	// Name is the node's name (default: the cluster's name for its first
	// node, NAME-I for the others).
	Name string
}

// Node is a Kubernetes node of a Cluster: containerd, a kubelet and
// kube-proxy (iptables mode) running in the node's own network namespace,
// which a veth pair links to the host.
type Node struct {
	// Name is the node's name (and its kubelet's hostname).
	Name string
	// Dir is the node's directory: containerd's and the kubelet's state,
	// the CNI configuration and the logs.
	Dir string
	// NetNS names the node's network namespace (/var/run/netns/NetNS).
	NetNS string
	// IP is the node's InternalIP, its end of the veth pair.
	IP netip.Addr
	// HostIP is the host's end of the veth pair: the node reaches the
	// host, and the cluster's apiserver, there.
	HostIP netip.Addr
	// PodCIDR holds the node's pods' addresses; the host routes it to IP.
	PodCIDR netip.Prefix
	// ContainerdSocket is the node's containerd's address.
	ContainerdSocket string
	// CgroupRoot is the kubelet's cgroupRoot: the node's pods run below
	// it, in every cgroup v1 hierarchy.
	CgroupRoot string

	key        string // names the namespace, cgroup root and directory
	paths      nodePaths
	net        *nodeNet
	containerd *component
	kubelet    *component
	proxy      *component
}

// newNode makes the node's network and directory; nothing runs yet.
func newNode(clusterDir, name string) (*Node, error) {
	cleanLeftoversOnce()
	netw, err := newNodeNet()
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	n := &Node{
		Name: name, Dir: filepath.Join(clusterDir, netw.netns), NetNS: netw.netns,
		IP: netw.nodeIP, HostIP: netw.hostIP, PodCIDR: netw.podCIDR,
		CgroupRoot: "/" + netw.netns, key: netw.netns, net: netw,
	}
	n.paths = nodePaths{dir: n.Dir}
	n.ContainerdSocket = n.paths.socket()
	if err := os.MkdirAll(n.paths.cniConfDir(), 0o700); err != nil {
		netw.delete()
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	return n, nil
}

// start runs containerd, imports images, then runs the kubelet and
// kube-proxy as the identities given; it returns once containerd answers
// (the caller waits for the node to be Ready).
func (n *Node) start(ctx context.Context, bin string, images []string) error {
	if err := n.writeConfig(); err != nil {
		return err
	}
	if err := makeCgroupRoot(n.key); err != nil {
		return err
	}
	n.containerd = newCommand(n.Dir, "containerd", n.net.inNetns("containerd", "--config", n.paths.containerdConfig())...)
	if err := n.containerd.start(); err != nil {
		return err
	}
	if err := n.waitContainerd(ctx); err != nil {
		return err
	}
	for _, image := range images {
		if err := n.LoadImage(ctx, image); err != nil {
			return err
		}
	}
	n.kubelet = newCommand(n.Dir, "kubelet", n.net.inNetns(append([]string{bin, "kubelet"}, kubeletArgs(n.paths, n.Name, n.net)...)...)...)
	n.proxy = newCommand(n.Dir, "kube-proxy", n.net.inNetns(append([]string{bin, "kube-proxy"}, proxyArgs(n.paths, n.Name, n.net)...)...)...)
	for _, comp := range []*component{n.kubelet, n.proxy} {
		if err := comp.start(); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes containerd's, CNI's and the kubelet's configuration.
func (n *Node) writeConfig() error {
	cni, err := cniConfig(n.paths, n.net)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		n.paths.containerdConfig():                                     []byte(containerdConfig(n.paths)),
		filepath.Join(n.paths.cniConfDir(), "10-kubeharness.conflist"): cni,
		n.paths.kubeletConfig():                                        []byte(kubeletConfig(n.paths, n.net, n.key)),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// waitContainerd waits until containerd accepts connections on its socket.
func (n *Node) waitContainerd(ctx context.Context) error {
	return poll(ctx, n.containerd.failed, func(ctx context.Context) error {
		conn, err := (&net.Dialer{}).DialContext(ctx, "unix", n.ContainerdSocket)
		if err != nil {
			return fmt.Errorf("containerd of node %s: %w", n.Name, err)
		}
		return conn.Close()
	})
}

// LoadImage imports a docker-archive or OCI tarball into the node's
// containerd, where the kubelet finds it (namespace k8s.io): pods use it
// with imagePullPolicy Never or IfNotPresent.
func (n *Node) LoadImage(ctx context.Context, tarball string) error {
	cmd := exec.CommandContext(ctx, "ctr", "--address", n.ContainerdSocket, "--namespace", "k8s.io", "images", "import", tarball)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("node %s: import image %s: %w: %s", n.Name, tarball, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitReady waits until the node's Ready condition is True, or a process
// of the cluster (the node's included) exits.
func (n *Node) waitReady(ctx context.Context, c *Cluster) error {
	return poll(ctx, c.failed, func(ctx context.Context) error {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s is not Ready yet", n.Name)
	})
}

// components are the node's processes, in start order.
func (n *Node) components() []*component {
	var out []*component
	for _, comp := range []*component{n.containerd, n.kubelet, n.proxy} {
		if comp != nil {
			out = append(out, comp)
		}
	}
	return out
}

// PIDs are the process ids of the node's running containerd, kubelet and
// kube-proxy (not its pods').
func (n *Node) PIDs() []int {
	var pids []int
	for _, comp := range n.components() {
		if pid := comp.pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// close stops the node and removes everything it made on the host: its
// pods' processes and containerd's shims, mounts under its directory, its
// network namespace (and with it the veth pair, routes and kube-proxy's
// iptables chains) and its cgroups.
func (n *Node) close() error {
	for _, comp := range []*component{n.proxy, n.kubelet, n.containerd} {
		if comp != nil {
			comp.stopWithin(closeGrace)
		}
	}
	return cleanNode(n.key, n.Dir)
}

// cleanNode removes what the node keyed key left on the host, whether its
// processes were stopped or died with a crashed test.
func cleanNode(key, dir string) error {
	killAll(func() []int {
		return append(cgroupPIDs(key), processesMentioning(string(filepath.Separator)+key+string(filepath.Separator))...)
	})
	errs := []error{unmountUnder(dir)}
	(&nodeNet{netns: key, hostDev: keyPrefix(key) + "v" + strings.TrimPrefix(key, keyPrefix(key)+"-")}).delete()
	errs = append(errs, removeCgroupRoot(key))
	return errors.Join(errs...)
}

// killGrace is how long killAll waits for killed processes to go.
const killGrace = 10 * time.Second
