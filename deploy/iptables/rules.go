package iptables

import (
	"fmt"
	"strings"
)

// Sidecar ports and identity, as istio-proxy uses them.
const (
	ProxyUID            = 1337  // Envoy runs as this user and group; its own traffic is never captured
	OutboundCapturePort = 15001 // virtualOutbound
	InboundCapturePort  = 15006 // virtualInbound
	envoyAdminPort      = 15000
)

// DefaultExcludedInbound are never redirected to InboundCapturePort: HBONE,
// the merged Prometheus port, the health check port, the agent's port and
// Envoy's admin port.
var DefaultExcludedInbound = []int{15008, 15090, 15021, 15020, envoyAdminPort}

// Options narrow what is captured; the zero value captures everything but
// the proxy's own ports.
type Options struct {
	// InboundPorts: "" or "*" every port, "-" none, else the listed ports.
	InboundPorts string
	// ExcludeInboundPorts are left alone when InboundPorts is "*", added
	// to DefaultExcludedInbound.
	ExcludeInboundPorts []int
	// ExcludeOutboundPorts are destination ports never redirected.
	ExcludeOutboundPorts []int
	// ExcludeOutboundCIDRs are destination ranges never redirected.
	ExcludeOutboundCIDRs []string
}

// Rules is the iptables-restore input of the nat table for o.
func Rules(o Options) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("*nat")
	for _, chain := range []string{"ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT"} {
		line(":%s - [0:0]", chain)
	}
	line("-A PREROUTING -p tcp -j ISTIO_INBOUND")
	line("-A OUTPUT -p tcp -j ISTIO_OUTPUT")
	inboundRules(line, o)
	line("-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports %d", InboundCapturePort)
	outboundRules(line, o)
	line("-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports %d", OutboundCapturePort)
	line("COMMIT")
	return b.String()
}

func inboundRules(line func(string, ...any), o Options) {
	switch o.InboundPorts {
	case "-":
		return
	case "", "*":
		for _, port := range append(append([]int{}, DefaultExcludedInbound...), o.ExcludeInboundPorts...) {
			line("-A ISTIO_INBOUND -p tcp -m tcp --dport %d -j RETURN", port)
		}
		line("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
	default:
		for _, port := range strings.Split(o.InboundPorts, ",") {
			line("-A ISTIO_INBOUND -p tcp -m tcp --dport %s -j ISTIO_IN_REDIRECT", strings.TrimSpace(port))
		}
	}
}

func outboundRules(line func(string, ...any), o Options) {
	for _, port := range o.ExcludeOutboundPorts {
		line("-A ISTIO_OUTPUT -p tcp -m tcp --dport %d -j RETURN", port)
	}
	line("-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN")
	for _, owner := range []string{"--uid-owner", "--gid-owner"} {
		line("-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner %s %d -j ISTIO_IN_REDIRECT", owner, ProxyUID)
		line("-A ISTIO_OUTPUT -o lo -m owner ! %s %d -j RETURN", owner, ProxyUID)
		line("-A ISTIO_OUTPUT -m owner %s %d -j RETURN", owner, ProxyUID)
	}
	line("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN")
	for _, cidr := range o.ExcludeOutboundCIDRs {
		line("-A ISTIO_OUTPUT -d %s -j RETURN", cidr)
	}
	line("-A ISTIO_OUTPUT -j ISTIO_REDIRECT")
}
