package capture

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Sidecar ports and identity, as istio-proxy uses them.
const (
	proxyUID            = 1337 // Envoy runs as this user; its own traffic is never captured
	outboundCapturePort = 15001
	inboundCapturePort  = 15006
	envoyAdminPort      = 15000
)

// inboundExcludedPorts are never redirected to 15006: HBONE, the merged
// Prometheus port, the health check port, the agent's port and Envoy admin.
var inboundExcludedPorts = []int{15008, 15090, 15021, 15020, envoyAdminPort}

// captureRules is the nat table istio-iptables writes for REDIRECT mode:
// inbound TCP to 15006 except the proxy's own ports; outbound TCP to 15001
// except traffic of uid/gid 1337, traffic to loopback, and the proxy's
// pass-through connections sourced from 127.0.0.6. Connections 1337 makes
// to its own pod IP over lo are inbound calls and go to 15006.
func captureRules() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("*nat")
	for _, chain := range []string{"ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"} {
		line(":%s - [0:0]", chain)
	}
	line("-A PREROUTING -p tcp -j ISTIO_INBOUND")
	line("-A OUTPUT -p tcp -j ISTIO_OUTPUT")
	for _, port := range inboundExcludedPorts {
		line("-A ISTIO_INBOUND -p tcp -m tcp --dport %d -j RETURN", port)
	}
	line("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
	line("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports %d", inboundCapturePort)
	line("-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN")
	for _, owner := range []string{"--uid-owner", "--gid-owner"} {
		line("-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner %s %d -j ISTIO_IN_REDIRECT", owner, proxyUID)
		line("-A ISTIO_OUTPUT -o lo -m owner ! %s %d -j RETURN", owner, proxyUID)
		line("-A ISTIO_OUTPUT -m owner %s %d -j RETURN", owner, proxyUID)
	}
	line("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN")
	line("-A ISTIO_OUTPUT -j ISTIO_REDIRECT")
	line("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports %d", outboundCapturePort)
	line("COMMIT")
	return b.String()
}

// restoreCommands are tried in order: Debian's iptables-restore (the
// nf_tables backend), then the legacy backend for kernels without nf_tables.
var restoreCommands = []string{"iptables-restore", "iptables-legacy-restore"}

// installCapture loads captureRules into the pod's namespace and returns
// the command that did it.
func installCapture(p *pod) (string, error) {
	var errs []string
	for _, bin := range restoreCommands {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		if _, err := runInput(captureRules(), "ip", "netns", "exec", p.ns.name, bin); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return bin, nil
	}
	return "", fmt.Errorf("install capture rules in pod %s: %s", p.role, strings.Join(errs, "; "))
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
