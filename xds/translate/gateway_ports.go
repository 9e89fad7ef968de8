package translate

import (
	"slices"
	"strconv"
	"strings"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// gatewayTargetPorts maps the service ports of a gateway proxy's own
// Service onto the ports its pod listens on, as Istio does for gateways
// deployed behind a Kubernetes Service (port 80 served on targetPort 8080 by
// an unprivileged gateway): found from the endpoints at the proxy's
// addresses. Encoded "SERVICEPORT:PORT,..." so it can be part of a view;
// empty when the proxy is no endpoint or no port differs.
func gatewayTargetPorts(idx *Index, p *model.Proxy) string {
	if p.Type != model.RouterProxy {
		return ""
	}
	var pairs []string
	for _, w := range idx.workloadEndpoints(p.IPAddresses) {
		ep := w.endpoint
		if ep.ServicePort != 0 && ep.Port != 0 && ep.ServicePort != ep.Port {
			pairs = append(pairs, strconv.FormatUint(uint64(ep.ServicePort), 10)+":"+strconv.FormatUint(uint64(ep.Port), 10))
		}
	}
	slices.Sort(pairs)
	return strings.Join(slices.Compact(pairs), ",")
}

// listenPort is the port a gateway listens on for a server port: its
// target port when the gateway's Service maps it, else the port itself.
func listenPort(targetPorts string, port uint32) uint32 {
	prefix := strconv.FormatUint(uint64(port), 10) + ":"
	for _, pair := range strings.Split(targetPorts, ",") {
		if target, ok := strings.CutPrefix(pair, prefix); ok {
			if n, err := strconv.ParseUint(target, 10, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return port
}
