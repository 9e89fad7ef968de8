package translate

import (
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// gatewayServer is one server of a Gateway that applies to the proxy.
type gatewayServer struct {
	spec      *networking.Server
	gateway   string   // the Gateway as VirtualServices bind to it: "NAMESPACE/NAME"
	namespace string   // the Gateway's namespace
	hosts     []string // the server's hosts: "HOST" or "NAMESPACE/HOST" ("./" and "*/" resolved)
	protocol  discovery.Protocol
	// routeName is the route configuration of an HTTP server; "" for the
	// others.
	routeName string
}

// gatewayPort is one listener of a gateway proxy: the servers merged on a
// port and bind address.
type gatewayPort struct {
	port uint32
	bind string
	// sni is set when the first server took the port for TLS: servers are
	// then told apart by SNI. Otherwise the port is plain text, HTTP or TCP.
	sni     bool
	servers []*gatewayServer
}

type gatewayPortKey struct {
	port uint32
	bind string
}

// planGateways merges the servers of the Gateways that select the proxy,
// as Istio merges them: on one port, plain-text HTTP servers share a route
// configuration and TLS servers are told apart by SNI; a server that cannot
// join the first server of its port (another protocol, a TLS host already
// served, a second TCP server) is left out. Gateways are taken by namespace
// and name, servers in order.
func planGateways(idx *Index, p *model.Proxy) []*gatewayPort {
	var out []*gatewayPort
	byKey := map[gatewayPortKey]*gatewayPort{}
	tlsHosts := map[gatewayPortKey]map[string]bool{}
	for _, o := range selectedGateways(idx, p) {
		for _, s := range o.Spec.(*networking.Gateway).GetServers() {
			if s.GetPort() == nil {
				continue
			}
			gs := newGatewayServer(o, s)
			key := gatewayPortKey{port: s.GetPort().GetNumber(), bind: s.GetBind()}
			if s.GetTls() != nil && !claimHosts(tlsHosts, key, gs.hosts) {
				continue
			}
			gp := byKey[key]
			if gp == nil {
				gp = &gatewayPort{port: key.port, bind: key.bind, sni: isTLSServer(gs)}
				byKey[key] = gp
				out = append(out, gp)
			} else if !gp.admits(gs) {
				continue
			}
			gp.servers = append(gp.servers, gs)
		}
	}
	return out
}

// selectedGateways are the Gateways, in any namespace, whose selector
// matches the proxy's labels; a Gateway without a selector selects every
// gateway proxy.
func selectedGateways(idx *Index, p *model.Proxy) []*policy.Object {
	var out []*policy.Object
	for _, o := range idx.configOfKind(policy.KindGateway) {
		if labelsMatch(o.Spec.(*networking.Gateway).GetSelector(), p.Labels) {
			out = append(out, o)
		}
	}
	return out
}

func newGatewayServer(o *policy.Object, s *networking.Server) *gatewayServer {
	gs := &gatewayServer{
		spec:      s,
		gateway:   o.Namespace + "/" + o.Name,
		namespace: o.Namespace,
		hosts:     sanitizeServerHosts(s.GetHosts(), o.Namespace),
		protocol:  discovery.ParseProtocol(s.GetPort().GetProtocol()),
	}
	switch {
	case gs.protocol.IsHTTP():
		gs.routeName = gatewayHTTPRouteName(s.GetPort().GetNumber(), s.GetBind())
	case terminatesHTTPS(gs):
		gs.routeName = gatewayHTTPSRouteName(s.GetPort().GetNumber(), s.GetPort().GetName(), o.Name, o.Namespace, s.GetBind())
	}
	return gs
}

// sanitizeServerHosts writes "./HOST" as "NAMESPACE/HOST" and "*/HOST" as
// "HOST"; "*/*" makes the server serve every host.
func sanitizeServerHosts(hosts []string, ns string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		hostNS, name, ok := strings.Cut(h, "/")
		switch {
		case !ok:
			out = append(out, h)
		case hostNS == "*" && name == "*":
			return []string{"*"}
		case hostNS == "*":
			out = append(out, name)
		case hostNS == ".":
			out = append(out, ns+"/"+name)
		default:
			out = append(out, h)
		}
	}
	return out
}

// claimHosts records the hosts of a TLS server on its port and bind; false,
// recording nothing, when one of them is already there (two filter chains
// would match the same SNI).
func claimHosts(claimed map[gatewayPortKey]map[string]bool, key gatewayPortKey, hosts []string) bool {
	known := claimed[key]
	if known == nil {
		known = map[string]bool{}
		claimed[key] = known
	}
	for _, h := range hosts {
		if known[h] {
			return false
		}
	}
	for _, h := range hosts {
		known[h] = true
	}
	return true
}

// admits reports whether a server may join the port: plain-text HTTP
// servers merge with HTTP ones; TLS ports take servers with TLS settings,
// each HTTPS one with its own route configuration.
func (gp *gatewayPort) admits(gs *gatewayServer) bool {
	if !gp.sni {
		return gp.servers[0].protocol.IsHTTP() && gs.protocol.IsHTTP()
	}
	if gs.spec.GetTls() == nil {
		return false
	}
	if gs.routeName == "" {
		return true
	}
	for _, other := range gp.servers {
		if other.routeName == gs.routeName {
			return false
		}
	}
	return true
}

// isTLSServer: a non-HTTP server with TLS settings, terminated or passed
// through.
func isTLSServer(gs *gatewayServer) bool {
	return gs.spec.GetTls() != nil && !gs.protocol.IsHTTP()
}

// isPassthrough: TLS is not terminated but routed by SNI.
func isPassthrough(s *networking.Server) bool {
	mode := s.GetTls().GetMode()
	return s.GetTls() != nil &&
		(mode == networking.ServerTLSSettings_PASSTHROUGH || mode == networking.ServerTLSSettings_AUTO_PASSTHROUGH)
}

// terminatesHTTPS: an HTTPS server that terminates TLS and routes HTTP.
func terminatesHTTPS(gs *gatewayServer) bool {
	return gs.protocol == discovery.ProtocolHTTPS && gs.spec.GetTls() != nil && !isPassthrough(gs.spec)
}

// sniHosts are the server names a TLS server's filter chain matches: its
// hosts without namespaces, each once, sorted.
func (gs *gatewayServer) sniHosts() []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range gs.hosts {
		if _, name, ok := strings.Cut(h, "/"); ok {
			h = name
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

// hostsFor are the server's hosts that a VirtualService of namespace ns
// may fill: plain hosts, and "NAMESPACE/HOST" ones of that namespace.
func (gs *gatewayServer) hostsFor(ns string) []string {
	var out []string
	for _, h := range gs.hosts {
		hostNS, name, ok := strings.Cut(h, "/")
		switch {
		case !ok:
			out = append(out, h)
		case hostNS == ns:
			out = append(out, name)
		}
	}
	return out
}
