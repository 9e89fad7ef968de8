package translate

import (
	"strings"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
)

// notThisGateway stands, in a match block rewritten for one gateway, for
// gateways other than it: a non-empty list without "mesh".
const notThisGateway = ""

// resolveGatewayRef is the "NAMESPACE/NAME" a VirtualService of namespace
// ns means by a gateway reference: "NAME" and "./NAME" are in ns, the legacy
// "NAME.NAMESPACE[.svc.DOMAIN]" is NAMESPACE/NAME, "mesh" stays.
func resolveGatewayRef(ref, ns string) string {
	if ref == meshGateway {
		return ref
	}
	if refNS, name, ok := strings.Cut(ref, "/"); ok {
		if refNS == "." {
			return ns + "/" + name
		}
		return ref
	}
	name, rest, ok := strings.Cut(ref, ".")
	if !ok {
		return ns + "/" + ref
	}
	refNS, _, _ := strings.Cut(rest, ".")
	return refNS + "/" + name
}

// namesGateway reports whether refs, written in namespace ns, name gateway.
func namesGateway(refs []string, ns, gateway string) bool {
	for _, r := range refs {
		if resolveGatewayRef(r, ns) == gateway {
			return true
		}
	}
	return false
}

// boundVirtualServices returns the VirtualServices bound to gateway
// ("NAMESPACE/NAME") that a proxy of namespace ns may see: those of ns
// first, then the others, each group by namespace and name.
func boundVirtualServices(idx *Index, ns, gateway string) []*VirtualServiceRef {
	var own, other []*VirtualServiceRef
	for _, vs := range idx.allVirtualServices() {
		if !namesGateway(vs.Spec.GetGateways(), vs.Object.Namespace, gateway) ||
			!exportedTo(vs.Spec.GetExportTo(), vs.Object.Namespace, ns) {
			continue
		}
		if vs.Object.Namespace == ns {
			own = append(own, vs)
		} else {
			other = append(other, vs)
		}
	}
	return append(own, other...)
}

// matchingHosts are the hosts a server and a VirtualService have in common,
// each pair giving the narrower of the two: server "*.example.com" and
// VirtualService "a.example.com" give "a.example.com", and the other way
// round. Hosts are lowercased, each kept once.
func matchingHosts(serverHosts, vsHosts []string) []string {
	var out []string
	add := func(h string) {
		h = strings.ToLower(h)
		if !containsString(out, h) {
			out = append(out, h)
		}
	}
	for _, s := range serverHosts {
		for _, v := range vsHosts {
			switch {
			case HostMatches(v, s):
				add(s)
			case HostMatches(s, v):
				add(v)
			}
		}
	}
	return out
}

// hostsOverlap reports whether a server and a VirtualService share a host.
func hostsOverlap(serverHosts, vsHosts []string) bool {
	return len(matchingHosts(serverHosts, vsHosts)) > 0
}

// forGateway is the VirtualService as its http routes apply to one
// gateway: a match block naming gateways applies when it names this one,
// whatever its source labels, as Istio has it. The route code reads match
// blocks as a sidecar's, which apply when they name "mesh", so such blocks
// are rewritten in a copy to name "mesh" or nothing that applies.
func (vs *VirtualServiceRef) forGateway(gateway string) *VirtualServiceRef {
	if !httpMatchesNameGateways(vs.Spec) {
		return vs
	}
	spec := proto.Clone(vs.Spec).(*networking.VirtualService)
	for _, rule := range spec.GetHttp() {
		for _, m := range rule.GetMatch() {
			if len(m.GetGateways()) == 0 {
				continue
			}
			if namesGateway(m.GetGateways(), vs.Object.Namespace, gateway) {
				m.Gateways = []string{meshGateway}
			} else {
				m.Gateways = []string{notThisGateway}
			}
		}
	}
	out := *vs
	out.Spec = spec
	return &out
}

func httpMatchesNameGateways(vs *networking.VirtualService) bool {
	for _, rule := range vs.GetHttp() {
		for _, m := range rule.GetMatch() {
			if len(m.GetGateways()) > 0 {
				return true
			}
		}
	}
	return false
}

// gatewayL4Applies checks a tcp or tls match block on a gateway server:
// its port and gateways only, as Istio has it.
func gatewayL4Applies(matchPort uint32, gateways []string, vsNS string, gs *gatewayServer) bool {
	return (matchPort == 0 || matchPort == gs.spec.GetPort().GetNumber()) &&
		(len(gateways) == 0 || namesGateway(gateways, vsNS, gs.gateway))
}
