package policy

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// meshGateway is the reserved gateway name for sidecars.
const meshGateway = "mesh"

func (c *checker) virtualService(vs *networking.VirtualService) {
	delegate := len(vs.GetHosts()) == 0
	if delegate {
		c.delegateVirtualService(vs)
	}
	boundToGateway := c.gatewayNames("spec.gateways", vs.GetGateways())
	c.virtualServiceHosts(vs, boundToGateway)
	if len(vs.GetHttp()) == 0 && len(vs.GetTcp()) == 0 && len(vs.GetTls()) == 0 {
		c.add("spec", "a VirtualService needs http, tcp or tls routes")
	}
	for i, r := range vs.GetHttp() {
		c.httpRoute(index("spec.http", i), r, delegate, boundToGateway)
	}
	for i, r := range vs.GetTls() {
		c.tlsRoute(index("spec.tls", i), r, vs, boundToGateway)
	}
	for i, r := range vs.GetTcp() {
		c.tcpRoute(index("spec.tcp", i), r)
	}
	c.exportTo("spec.exportTo", vs.GetExportTo(), false)
}

// delegateVirtualService applies the rules for a VirtualService without
// hosts, which only a root VirtualService's delegate can use.
func (c *checker) delegateVirtualService(vs *networking.VirtualService) {
	if len(vs.GetGateways()) > 0 {
		c.add("spec.gateways", "a delegate VirtualService (no hosts) cannot name gateways")
	}
	if len(vs.GetTls()) > 0 {
		c.add("spec.tls", "a delegate VirtualService (no hosts) cannot have tls routes")
	}
	if len(vs.GetTcp()) > 0 {
		c.add("spec.tcp", "a delegate VirtualService (no hosts) cannot have tcp routes")
	}
}

// gatewayNames checks gateway references ("mesh", "name", "ns/name") and
// reports whether the routes apply to gateways only (not to sidecars).
func (c *checker) gatewayNames(p string, names []string) (onlyGateways bool) {
	onlyGateways = len(names) > 0
	for i, name := range names {
		if name == meshGateway {
			onlyGateways = false
		}
		c.check(index(p, i), checkGatewayName(name))
	}
	return onlyGateways
}

func checkGatewayName(name string) error {
	ns, gw, qualified := strings.Cut(name, "/")
	if !qualified {
		return checkFQDN(name)
	}
	if err := checkDNS1123Label(ns); err != nil {
		return err
	}
	return checkDNS1123Label(gw)
}

func (c *checker) virtualServiceHosts(vs *networking.VirtualService, boundToGateway bool) {
	allValid := true
	for i, h := range vs.GetHosts() {
		p := index("spec.hosts", i)
		if err := checkWildcardHost(h); err != nil && !isIP(h) {
			c.check(p, err)
			allValid = false
		} else if h == "*" && !boundToGateway {
			c.add(p, "wildcard host * is not allowed for a VirtualService that applies to sidecars (mesh)")
			allValid = false
		}
	}
	if !allValid {
		return
	}
	hosts := vs.GetHosts()
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			if hostsOverlap(hosts[i], hosts[j]) {
				c.add(index("spec.hosts", j), "duplicate host: %s overlaps %s", hosts[j], hosts[i])
			}
		}
	}
}

// hostsOverlap reports whether two hosts (exact or wildcard) can match the
// same name.
func hostsOverlap(a, b string) bool {
	aWild, bWild := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	switch {
	case !aWild && !bWild:
		return a == b
	case aWild && bWild:
		return strings.HasSuffix(a[1:], b[1:]) || strings.HasSuffix(b[1:], a[1:])
	case aWild:
		return strings.HasSuffix(b, a[1:])
	}
	return strings.HasSuffix(a, b[1:])
}

// exportTo checks visibility values: ".", "*", a namespace, or "~" for
// ServiceEntries.
func (c *checker) exportTo(p string, values []string, allowNone bool) {
	seen := map[string]bool{}
	for i, v := range values {
		key := v
		if v == "." {
			key = c.obj.Namespace
		}
		switch {
		case seen[key]:
			c.add(index(p, i), "duplicate exportTo entry %q", v)
		case v == "~" && !allowNone:
			c.add(index(p, i), "exportTo ~ is only allowed for ServiceEntry")
		case v != "." && v != "*" && v != "~":
			c.check(index(p, i), checkDNS1123Label(v))
		}
		seen[key] = true
	}
	if (seen["*"] || seen["~"]) && len(values) > 1 {
		c.add(p, "exportTo * or ~ cannot be combined with other values")
	}
}
