package policy

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

func (c *checker) tlsRoute(p string, r *networking.TLSRoute, vs *networking.VirtualService, boundToGateway bool) {
	if r == nil {
		c.add(p, "tls route must not be null")
		return
	}
	if len(r.GetMatch()) == 0 {
		c.add(field(p, "match"), "a tls route needs at least one match")
	}
	for i, m := range r.GetMatch() {
		c.tlsMatch(index(field(p, "match"), i), m, vs, boundToGateway)
	}
	c.l4Destinations(field(p, "route"), r.GetRoute(), "tls")
}

func (c *checker) tlsMatch(p string, m *networking.TLSMatchAttributes, vs *networking.VirtualService, boundToGateway bool) {
	if m == nil {
		c.add(p, "match must not be null")
		return
	}
	if len(m.GetSniHosts()) == 0 {
		c.add(field(p, "sniHosts"), "a tls match needs at least one SNI host")
	}
	for i, sni := range m.GetSniHosts() {
		c.sniHost(index(field(p, "sniHosts"), i), sni, vs, boundToGateway)
	}
	c.l4MatchCommon(p, m.GetDestinationSubnets(), m.GetPort(), m.GetSourceLabels(), m.GetGateways())
}

// sniHost checks an SNI host and that one of the VirtualService hosts
// covers it.
func (c *checker) sniHost(p, sni string, vs *networking.VirtualService, boundToGateway bool) {
	if err := checkWildcardHost(sni); err != nil {
		if !isIP(sni) && !(boundToGateway && strings.HasPrefix(sni, "outbound_.")) {
			c.check(p, err)
		}
		return
	}
	for _, h := range vs.GetHosts() {
		if HostMatches(h, sni) {
			return
		}
	}
	c.add(p, "SNI host %q is not covered by any of the VirtualService hosts [%s]", sni, strings.Join(vs.GetHosts(), ", "))
}

func (c *checker) tcpRoute(p string, r *networking.TCPRoute) {
	if r == nil {
		c.add(p, "tcp route must not be null")
		return
	}
	for i, m := range r.GetMatch() {
		mp := index(field(p, "match"), i)
		if m == nil {
			c.add(mp, "match must not be null")
			continue
		}
		c.l4MatchCommon(mp, m.GetDestinationSubnets(), m.GetPort(), m.GetSourceLabels(), m.GetGateways())
		if ns := m.GetSourceNamespace(); ns != "" {
			c.check(field(mp, "sourceNamespace"), checkDNS1123Label(ns))
		}
	}
	c.l4Destinations(field(p, "route"), r.GetRoute(), "tcp")
}

func (c *checker) l4MatchCommon(p string, subnets []string, port uint32, sourceLabels map[string]string, gateways []string) {
	for i, s := range subnets {
		c.check(index(field(p, "destinationSubnets"), i), checkIPOrCIDR(s))
	}
	if port != 0 {
		c.check(field(p, "port"), checkPort(int64(port)))
	}
	c.labels(field(p, "sourceLabels"), sourceLabels)
	c.gatewayNames(field(p, "gateways"), gateways)
}

func (c *checker) l4Destinations(p string, routes []*networking.RouteDestination, kind string) {
	if len(routes) == 0 {
		c.add(p, "a %s route needs at least one destination", kind)
	}
	total := int64(0)
	for i, r := range routes {
		if r == nil {
			c.add(index(p, i), "route destination must not be null")
			continue
		}
		c.routeDestination(index(p, i), r.GetDestination(), r.GetWeight())
		total += int64(r.GetWeight())
	}
	c.totalWeight(p, len(routes), total)
}
