package policy

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

func (c *checker) sidecar(sc *networking.Sidecar) {
	if sel := sc.GetWorkloadSelector(); sel != nil {
		c.selectorLabels("spec.workloadSelector.labels", sel.GetLabels())
	}
	if len(sc.GetEgress()) == 0 && len(sc.GetIngress()) == 0 && sc.GetOutboundTrafficPolicy() == nil && sc.GetInboundConnectionPool() == nil {
		c.add("spec", "a Sidecar needs egress, ingress, outboundTrafficPolicy or inboundConnectionPool")
	}
	c.sidecarIngress(sc.GetIngress())
	c.connectionPool("spec.inboundConnectionPool", sc.GetInboundConnectionPool())
	c.sidecarEgress(sc.GetEgress())
	c.outboundTrafficPolicy("spec.outboundTrafficPolicy", sc.GetOutboundTrafficPolicy())
}

func (c *checker) sidecarIngress(listeners []*networking.IstioIngressListener) {
	ports := map[uint32]bool{}
	for i, in := range listeners {
		p := index("spec.ingress", i)
		if in == nil {
			c.add(p, "ingress listener must not be null")
			continue
		}
		if in.GetPort() == nil {
			c.add(field(p, "port"), "port is required for ingress listeners")
			continue
		}
		c.sidecarPort(field(p, "port"), in.GetPort())
		c.check(field(p, "port.number"), checkPort(int64(in.GetPort().GetNumber())))
		if ports[in.GetPort().GetNumber()] {
			c.add(field(p, "port.number"), "duplicate ingress port %d", in.GetPort().GetNumber())
		}
		ports[in.GetPort().GetNumber()] = true
		if in.GetBind() != "" {
			c.check(field(p, "bind"), checkIP(in.GetBind()))
		}
		c.check(field(p, "defaultEndpoint"), checkDefaultEndpoint(in.GetDefaultEndpoint()))
		c.sidecarIngressTLS(field(p, "tls"), in.GetTls())
		c.connectionPool(field(p, "connectionPool"), in.GetConnectionPool())
	}
}

// sidecarPort checks the name and protocol of a Sidecar listener port.
func (c *checker) sidecarPort(p string, port *networking.SidecarPort) {
	if port.GetName() != "" {
		c.check(field(p, "name"), checkPortName(port.GetName()))
	}
	c.check(field(p, "protocol"), checkProtocol(port.GetProtocol()))
	//nolint:staticcheck // targetPort is deprecated and meaningless here
	if port.GetTargetPort() > 0 {
		c.add(field(p, "targetPort"), "targetPort has no effect on a Sidecar")
	}
}

// checkDefaultEndpoint accepts "", unix:///path, or LOOPBACK_OR_ANY:PORT.
func checkDefaultEndpoint(ep string) error {
	if ep == "" {
		return nil
	}
	if strings.HasPrefix(ep, unixPrefix) {
		return checkUnixPath(strings.TrimPrefix(ep, unixPrefix))
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return err
	}
	switch host {
	case "", "127.0.0.1", "0.0.0.0", "::1", "::":
	default:
		return fmt.Errorf("defaultEndpoint must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///path")
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("defaultEndpoint port %q is not a number", port)
	}
	return checkPort(int64(n))
}

func (c *checker) sidecarIngressTLS(p string, tls *networking.ServerTLSSettings) {
	if tls == nil {
		return
	}
	if len(tls.GetSubjectAltNames()) > 0 {
		c.add(field(p, "subjectAltNames"), "subjectAltNames is not supported for Sidecar ingress")
	}
	if tls.GetHttpsRedirect() {
		c.add(field(p, "httpsRedirect"), "httpsRedirect is not supported for Sidecar ingress")
	}
	if tls.GetCredentialName() != "" {
		c.add(field(p, "credentialName"), "credentialName is not supported for Sidecar ingress")
	}
	if m := tls.GetMode(); m == networking.ServerTLSSettings_ISTIO_MUTUAL || m == networking.ServerTLSSettings_AUTO_PASSTHROUGH {
		c.add(field(p, "mode"), "mode %v is not allowed for Sidecar ingress", m)
	}
	c.serverTLS(p, tls)
}

func (c *checker) sidecarEgress(listeners []*networking.IstioEgressListener) {
	ports := map[uint32]bool{}
	sockets := map[string]bool{}
	for i, eg := range listeners {
		p := index("spec.egress", i)
		if eg == nil {
			c.add(p, "egress listener must not be null")
			continue
		}
		if eg.GetPort() == nil {
			if i != len(listeners)-1 {
				c.add(p, "only the last egress listener may omit the port (there can be one catch-all listener)")
			}
		} else {
			c.egressPort(p, eg)
			if n := eg.GetPort().GetNumber(); n == 0 {
				if sockets[eg.GetBind()] {
					c.add(field(p, "bind"), "duplicate unix socket %q", eg.GetBind())
				}
				sockets[eg.GetBind()] = true
			} else if ports[n] {
				c.add(field(p, "port.number"), "duplicate egress port %d", n)
			} else {
				ports[n] = true
			}
		}
		c.egressHosts(field(p, "hosts"), eg.GetHosts())
	}
}

// egressPort checks the port, bind address and capture mode of one egress
// listener; port 0 means a unix domain socket given in bind.
func (c *checker) egressPort(p string, eg *networking.IstioEgressListener) {
	c.sidecarPort(field(p, "port"), eg.GetPort())
	bind := eg.GetBind()
	if eg.GetPort().GetNumber() == 0 {
		if !strings.HasPrefix(bind, unixPrefix) {
			c.add(field(p, "bind"), "port 0 needs a unix:// bind address")
		} else {
			c.check(field(p, "bind"), checkUnixPath(strings.TrimPrefix(bind, unixPrefix)))
		}
		if m := eg.GetCaptureMode(); m != networking.CaptureMode_DEFAULT && m != networking.CaptureMode_NONE {
			c.add(field(p, "captureMode"), "unix socket listeners need captureMode DEFAULT or NONE")
		}
		return
	}
	c.check(field(p, "port.number"), checkPort(int64(eg.GetPort().GetNumber())))
	if bind != "" {
		c.check(field(p, "bind"), checkIP(bind))
	}
}

// egressHosts checks "namespace/dnsName" entries.
func (c *checker) egressHosts(p string, hosts []string) {
	if len(hosts) == 0 {
		c.add(p, "an egress listener needs at least one host")
	}
	for i, h := range hosts {
		c.check(index(p, i), checkNamespacedHost(h, false))
	}
}

// checkNamespacedHost checks "ns/host" as Sidecars and Gateways write hosts.
// Namespace may be "*", "." or a namespace ("~" too in Sidecars); the host
// must be "*", "*.suffix" or a dotted name. Gateways also accept a bare host.
func checkNamespacedHost(entry string, gateway bool) error {
	ns, host, ok := strings.Cut(entry, "/")
	if !ok {
		if gateway {
			return checkNamespacedHostPart(entry, true)
		}
		return fmt.Errorf("host %q must have the form namespace/dnsName", entry)
	}
	if ns == "" || host == "" {
		return fmt.Errorf("host %q: namespace and dnsName cannot be empty", entry)
	}
	if ns != "*" && ns != "." && (ns != "~" || gateway) {
		if err := checkDNS1123Label(ns); err != nil {
			return fmt.Errorf("host %q: invalid namespace: %w", entry, err)
		}
	}
	return checkNamespacedHostPart(host, gateway)
}

func checkNamespacedHostPart(host string, gateway bool) error {
	if host != "*" && !strings.Contains(host, ".") {
		return fmt.Errorf("short name %q is not allowed; use a fully qualified name", host)
	}
	if err := checkWildcardHost(host); err != nil && !(gateway && isIP(host)) {
		return err
	}
	return checkNoPartialWildcard(host)
}

func (c *checker) outboundTrafficPolicy(p string, tp *networking.OutboundTrafficPolicy) {
	if tp == nil || tp.GetEgressProxy() == nil {
		return
	}
	if tp.GetMode() != networking.OutboundTrafficPolicy_ALLOW_ANY {
		c.add(field(p, "egressProxy"), "egressProxy needs mode ALLOW_ANY")
		return
	}
	proxy := tp.GetEgressProxy()
	c.check(field(p, "egressProxy.host"), checkFQDN(proxy.GetHost()))
	if proxy.GetPort() == nil {
		c.add(field(p, "egressProxy.port"), "egressProxy port is required")
		return
	}
	c.destination(field(p, "egressProxy"), proxy)
}
