package translate

import (
	"strings"

	"github.com/isthmus-mesh/isthmus/policy"
)

// ResolveHost is policy.ResolveHost: a bare name is NAME.NS.svc.cluster.local.
func ResolveHost(host, ns string) string { return policy.ResolveHost(host, ns) }

// HostMatches is policy.HostMatches: pattern ("*", "*.suffix" or exact)
// covers host.
func HostMatches(pattern, host string) bool { return policy.HostMatches(pattern, host) }

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
