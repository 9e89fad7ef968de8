package translate

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/isthmus-mesh/isthmus/discovery"
)

// aliasDomains lists the Host header values other than its hostname that
// reach svc on port, as Istio generates them for a proxy whose DNS domain is
// proxyDomain ("NS.svc.cluster.local"): the hostname's short forms where a
// client resolves them (name, name.ns, name.ns.svc in the same namespace;
// name.ns and name.ns.svc from another) and the service's VIPs, each with
// and without ":PORT".
func aliasDomains(svc *discovery.Service, port uint32, proxyDomain string) []string {
	var domains []string
	for _, alt := range altHostnames(svc.Hostname, proxyDomain) {
		domains = withPort(domains, alt, port)
	}
	for _, addr := range svc.Addresses {
		if addr == "" || addr == wildcardAddress || strings.Contains(addr, "/") {
			continue
		}
		domains = withPort(domains, hostLiteral(addr), port)
	}
	return domains
}

func withPort(domains []string, host string, port uint32) []string {
	return append(domains, host, host+":"+strconv.FormatUint(uint64(port), 10))
}

// hostLiteral brackets IPv6 addresses, as they appear in a Host header.
func hostLiteral(addr string) string {
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() {
		return "[" + addr + "]"
	}
	return addr
}

// altHostnames returns the shorter names a client in proxyDomain may use for
// hostname, shortest first.
func altHostnames(hostname, proxyDomain string) []string {
	if i := strings.Index(proxyDomain, ".svc."); i > 0 {
		return kubernetesAltHostnames(hostname, proxyDomain[:i], proxyDomain[i:])
	}
	return sharedSuffixAltHostnames(hostname, proxyDomain)
}

// kubernetesAltHostnames handles NAME.NS.svc.SUFFIX hosts seen from a proxy
// in namespace proxyNS with the same ".svc.SUFFIX".
func kubernetesAltHostnames(hostname, proxyNS, svcSuffix string) []string {
	base, ok := strings.CutSuffix(hostname, svcSuffix)
	if !ok {
		return nil
	}
	name, ns, ok := strings.Cut(base, ".")
	if !ok || name == "" || ns == "" || strings.Contains(ns, ".") {
		return nil
	}
	if ns == proxyNS {
		return []string{name, base + ".svc", base}
	}
	return []string{base, base + ".svc"}
}

// sharedSuffixAltHostnames strips the DNS suffix hostname shares with the
// proxy's domain: foo.ns.corp.net seen from ns.corp.net gives foo, and seen
// from other.corp.net gives foo.ns and foo.ns.corp.
func sharedSuffixAltHostnames(hostname, proxyDomain string) []string {
	hostParts := strings.Split(hostname, ".")
	domainParts := strings.Split(proxyDomain, ".")
	shared := 0
	for shared < len(hostParts)-1 && shared < len(domainParts) &&
		hostParts[len(hostParts)-1-shared] == domainParts[len(domainParts)-1-shared] {
		shared++
	}
	if shared == 0 || proxyDomain == "" {
		return nil
	}
	unique := hostParts[:len(hostParts)-shared]
	out := []string{strings.Join(unique, ".")}
	if len(unique) == 2 {
		out = append(out, out[0]+"."+hostParts[len(hostParts)-shared])
	}
	return out
}

// domainSet keeps the domains of one route configuration unique, as Envoy
// requires; later virtual hosts lose a domain an earlier one has.
type domainSet map[string]bool

func (s domainSet) claim(domains []string) []string {
	var out []string
	for _, d := range domains {
		key := strings.ToLower(d)
		if s[key] {
			continue
		}
		s[key] = true
		out = append(out, d)
	}
	return out
}
