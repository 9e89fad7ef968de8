package kubeharness

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Addresses of node networks. Node slot k (1 to maxSlot) links its network
// namespace to the host by a veth pair in linkBase.k.0/30 (host .1, node
// .2) and gives its pods podBase.k.0/24. The host routes each pod range to
// its node; a node routes nowhere but its link and its pods, so nodes of
// different slots cannot reach each other's pods.
const (
	linkBase = "10.250"
	podBase  = "10.244"
	maxSlot  = 254
)

// netnsDir is where `ip netns` keeps its named network namespaces.
const netnsDir = "/var/run/netns"

// slotLockFile serializes slot allocation between test processes.
var slotLockFile = filepath.Join(os.TempDir(), "kubeharness-slots.lock")

// nodeNet is a node's network: its namespace and addresses.
type nodeNet struct {
	netns   string       // name under /var/run/netns
	hostDev string       // the veth end in the host namespace
	hostIP  netip.Addr   // that end's address: the node's gateway to the host
	nodeIP  netip.Addr   // the end in the node's namespace: its InternalIP
	podCIDR netip.Prefix // the node's pods
	bridge  string       // the CNI bridge in the node's namespace
}

// newNodeNet allocates a free slot and makes the node's network namespace
// (named runKey-SLOT), veth pair and host route.
func newNodeNet() (*nodeNet, error) {
	unlock, err := lockFile(slotLockFile)
	if err != nil {
		return nil, err
	}
	defer unlock()
	slot, err := freeSlot()
	if err != nil {
		return nil, err
	}
	n := slotNet(slot)
	if err := n.create(); err != nil {
		n.delete()
		return nil, fmt.Errorf("node network %s: %w", n.netns, err)
	}
	return n, nil
}

func slotNet(slot int) *nodeNet {
	link := netip.MustParseAddr(fmt.Sprintf("%s.%d.1", linkBase, slot))
	return &nodeNet{
		netns:   fmt.Sprintf("%s-%d", runKey, slot),
		hostDev: fmt.Sprintf("%sv%d", runKey, slot),
		hostIP:  link,
		nodeIP:  link.Next(),
		podCIDR: netip.MustParsePrefix(fmt.Sprintf("%s.%d.0/24", podBase, slot)),
		bridge:  "cni0",
	}
}

// freeSlot is the first slot whose pod range and link the host routes to
// nothing yet.
func freeSlot() (int, error) {
	out, err := exec.Command("ip", "-4", "-o", "route", "show").Output()
	if err != nil {
		return 0, fmt.Errorf("ip route show: %w", err)
	}
	routes := string(out)
	for slot := 1; slot <= maxSlot; slot++ {
		link, pods := fmt.Sprintf("%s.%d.0/30 ", linkBase, slot), fmt.Sprintf("%s.%d.0/24 ", podBase, slot)
		if !strings.Contains(routes, link) && !strings.Contains(routes, pods) {
			return slot, nil
		}
	}
	return 0, errors.New("no free node network: every slot's routes exist")
}

// create makes the namespace, links it to the host and turns forwarding on
// inside it (between its pods' bridge and its link).
func (n *nodeNet) create() error {
	node := func(args ...string) []string { return append([]string{"-n", n.netns}, args...) }
	steps := [][]string{
		{"netns", "add", n.netns},
		{"link", "add", n.hostDev, "type", "veth", "peer", "name", "eth0", "netns", n.netns},
		{"addr", "add", n.hostIP.String() + "/30", "dev", n.hostDev},
		{"link", "set", n.hostDev, "up"},
		node("link", "set", "lo", "up"),
		node("addr", "add", n.nodeIP.String()+"/30", "dev", "eth0"),
		node("link", "set", "eth0", "up"),
		{"route", "add", n.podCIDR.String(), "via", n.nodeIP.String(), "dev", n.hostDev},
	}
	for _, args := range steps {
		if err := runIP(args...); err != nil {
			return err
		}
	}
	return n.sysctls()
}

// sysctls lets the node forward its pods' packets and lets kube-proxy's
// rules see traffic between pods of its bridge.
func (n *nodeNet) sysctls() error {
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"} {
		out, err := exec.Command("ip", "netns", "exec", n.netns, "sysctl", "-q", "-w", kv).CombinedOutput()
		if err != nil {
			return fmt.Errorf("sysctl %s in %s: %w: %s", kv, n.netns, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// delete removes the namespace: its veth pair, routes, bridge and iptables
// rules go with it.
func (n *nodeNet) delete() {
	_ = runIP("netns", "delete", n.netns)
	_ = runIP("link", "delete", n.hostDev) // in case the namespace never got its end
}

// inNetns is the command line running argv in the node's namespace (and
// only its network namespace: the node shares the host's mounts, so the
// kubelet's volume mounts are visible to containerd).
func (n *nodeNet) inNetns(argv ...string) []string {
	return append([]string{"nsenter", "--net=" + filepath.Join(netnsDir, n.netns), "--"}, argv...)
}

// runInNetns runs argv in the node's namespace and waits for it.
func runInNetns(n *nodeNet, argv ...string) error {
	full := n.inNetns(argv...)
	out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), n.netns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lockFile takes an exclusive lock on path (created if missing) and
// returns its release.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// keyPrefix is "kh" and the PID of a key "khPID-NAME".
func keyPrefix(key string) string {
	prefix, _, _ := strings.Cut(key, "-")
	return prefix
}

// runKey is the prefix of every host resource this process makes for
// nodes (namespaces, veths, cgroups): leftovers of a process that is gone
// are found by it.
var runKey = "kh" + strconv.Itoa(os.Getpid())
