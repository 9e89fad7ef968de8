package capture

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// The pod network. Every address exists only inside the test's namespaces.
const (
	podPrefixLen = 24
	hubIP        = "10.77.0.1" // the bridge in the hub namespace: Isthmus and the outside-mesh server
	clientIP     = "10.77.0.11"
	reviewsV1IP  = "10.77.0.21"
	reviewsV2IP  = "10.77.0.22"
	reviewsVIP   = "10.77.100.10" // the reviews service address: no interface holds it
	bridgeName   = "br0"
	podInterface = "eth0"
)

// namespacePrefix starts the name of every namespace this package creates.
const namespacePrefix = "isthmus-e2e-"

// namespaceName is unique to this test process: isthmus-e2e-PID-ROLE.
func namespaceName(role string) string {
	return fmt.Sprintf("%s%d-%s", namespacePrefix, os.Getpid(), role)
}

// checkPrerequisites fails with what to install when the test cannot run.
func checkPrerequisites() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and iptables need it; run the test as root)")
	}
	for _, bin := range []string{"ip", "iptables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian packages iproute2 and iptables: run `make tools`)", bin))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the REDIRECT capture test needs: %s", strings.Join(missing, "; "))
	}
	return nil
}

var staleNamespace = regexp.MustCompile(`^` + namespacePrefix + `(\d+)-`)

// removeStaleNamespaces deletes namespaces an earlier run of this package
// left behind (its process killed before cleanup): those named after a
// process id that no longer exists.
func removeStaleNamespaces() {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		m := staleNamespace.FindStringSubmatch(fields[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if processRunning(pid) {
			continue // its run is still going on (or it is this process)
		}
		_, _ = run("ip", "netns", "del", fields[0])
	}
}

// processRunning reports whether pid is a live process (not a zombie).
func processRunning(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	_, rest, ok := strings.Cut(string(stat), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}

// pod is a namespace wired to the hub's bridge with one address.
type pod struct {
	role string // "client", "reviews-v1", ...
	ip   string
	ns   *netns
}

// network is the hub namespace (a bridge) and the pods attached to it.
type network struct {
	hub  *netns
	pods []*pod
}

// newNetwork creates the hub with its bridge.
func newNetwork() (*network, error) {
	hub, err := newNetns(namespaceName("hub"))
	if err != nil {
		return nil, err
	}
	n := &network{hub: hub}
	err = errors.Join(
		hub.ip("link", "add", bridgeName, "type", "bridge"),
		hub.ip("addr", "add", cidr(hubIP), "dev", bridgeName),
		hub.ip("link", "set", bridgeName, "up"),
	)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("hub bridge: %w", err)
	}
	return n, nil
}

// addPod creates a pod namespace at ip, connected to the bridge by a veth
// pair, with a default route through the hub as a pod network has.
func (n *network) addPod(role, ip string) (*pod, error) {
	ns, err := newNetns(namespaceName(role))
	if err != nil {
		return nil, err
	}
	p := &pod{role: role, ip: ip, ns: ns}
	n.pods = append(n.pods, p)
	hostSide := "v-" + role
	err = errors.Join(
		n.hub.ip("link", "add", hostSide, "type", "veth", "peer", "name", podInterface, "netns", ns.name),
		n.hub.ip("link", "set", hostSide, "master", bridgeName, "up"),
		ns.ip("addr", "add", cidr(ip), "dev", podInterface),
		ns.ip("link", "set", podInterface, "up"),
		ns.ip("route", "add", "default", "via", hubIP),
	)
	if err != nil {
		return nil, fmt.Errorf("wire pod %s: %w", role, err)
	}
	return p, nil
}

// close deletes every namespace (and so every interface) of the network.
func (n *network) close() error {
	var errs []error
	for _, p := range n.pods {
		errs = append(errs, p.ns.close())
	}
	errs = append(errs, n.hub.close())
	return errors.Join(errs...)
}

func cidr(ip string) string { return ip + "/" + strconv.Itoa(podPrefixLen) }
