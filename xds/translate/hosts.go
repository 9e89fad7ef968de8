package translate

import (
	"strings"

	"github.com/isthmus-mesh/isthmus/policy"
)

// ResolveHost is policy.ResolveHost: a bare name is NAME.NS.svc.cluster.local.
func ResolveHost(host, ns string) string { return policy.ResolveHost(host, ns) }

// HostMatches reports whether pattern (an exact host, "*" or "*.suffix")
// covers host. A wildcard host on the right is covered by an equal or wider
// pattern.
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

// hostSpecificity ranks patterns: exact hosts before wildcards, longer
// wildcards before shorter ones.
func hostSpecificity(pattern string) int {
	if !strings.HasPrefix(pattern, "*") {
		return 1 << 20
	}
	return len(pattern)
}

// exportedTo reports whether an object of namespace objNS with the given
// exportTo list is visible from namespace ns. Empty means everywhere.
func exportedTo(exportTo []string, objNS, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && objNS == ns) {
			return true
		}
	}
	return false
}
