package policy

import "strings"

// ResolveHost turns a host as written in an object of namespace ns into the
// name it stands for: a bare name (no dot, not a wildcard) becomes
// NAME.NS.svc.cluster.local, as Istio's short names do.
func ResolveHost(host, ns string) string {
	if host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + ns + ".svc.cluster.local"
}

// HostMatches reports whether pattern (an exact host, "*" or "*.suffix")
// covers host. A wildcard host is covered by an equal or wider pattern.
func HostMatches(pattern, host string) bool {
	switch {
	case pattern == "*" || pattern == host:
		return true
	case strings.HasPrefix(pattern, "*"):
		suffix := pattern[1:]
		if strings.HasPrefix(host, "*") {
			return strings.HasSuffix(host[1:], suffix)
		}
		return strings.HasSuffix(host, suffix)
	}
	return false
}
