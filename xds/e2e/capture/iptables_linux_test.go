package capture

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/isthmus-mesh/isthmus/deploy/iptables"
)

// Sidecar ports and identity, as istio-proxy uses them.
const (
	proxyUID       = iptables.ProxyUID // Envoy runs as this user; its own traffic is never captured
	envoyAdminPort = 15000
)

// installCapture loads the capture rules `isthmus capture` installs by
// default (package iptables: istio-iptables' REDIRECT mode) into the pod's
// namespace and returns the command that did it.
func installCapture(p *pod) (string, error) {
	bin, err := iptables.Install(context.Background(), iptables.Rules(iptables.Options{}), "ip", "netns", "exec", p.ns.name)
	if err != nil {
		return "", fmt.Errorf("pod %s: %w", p.role, err)
	}
	return bin, nil
}

// natTable lists the pod's nat rules, for failure messages.
func natTable(p *pod, bin string) string {
	save := strings.Replace(bin, "-restore", "-save", 1)
	out, err := run("ip", "netns", "exec", p.ns.name, save, "-t", "nat", "-c")
	if err != nil {
		return err.Error()
	}
	return string(out)
}

func itoa(n int) string { return strconv.Itoa(n) }
