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
