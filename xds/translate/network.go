package translate

import (
	"github.com/isthmus-mesh/isthmus/discovery"
)

// viaNetworkGateways gives a proxy in network the endpoints it can reach,
// as Istio's multi-network ("split horizon") EDS does: endpoints in the
// proxy's network, or in none, stay as they are; those in another network
// are replaced, per network and locality, by that network's east-west
// gateways, sharing the weight of the endpoints they stand for, marked as having
// a sidecar (the client must speak mTLS, whose SNI the gateway routes by).
// Endpoints of a network without a known gateway are dropped. A proxy that
// names no network reaches every endpoint directly.
func viaNetworkGateways(eps []*discovery.Endpoint, network string, idx *Index) []*discovery.Endpoint {
	if network == "" || !anyRemote(eps, network) {
		return eps
	}
	type group struct{ network, locality string }
	weights := map[group]uint32{}
	var order []group
	var out []*discovery.Endpoint
	for _, ep := range eps {
		if ep.Network == "" || ep.Network == network {
			out = append(out, ep)
			continue
		}
		g := group{ep.Network, ep.Locality}
		if _, seen := weights[g]; !seen {
			order = append(order, g)
		}
		weights[g] += max(ep.Weight, 1)
	}
	for _, g := range order {
		gateways := idx.networkGateways(g.network)
		for i, gw := range gateways {
			out = append(out, &discovery.Endpoint{
				Address: gw.Address, Port: gw.Port, Network: g.network, Locality: g.locality,
				Weight: shareOf(weights[g], len(gateways), i), Labels: map[string]string{TLSModeLabel: tlsModeIstio},
				Cluster: gw.Cluster,
			})
		}
	}
	return out
}

// shareOf splits total evenly over n, the first ones taking the remainder,
// so a network weighs what its endpoints do whatever its gateways; never 0.
func shareOf(total uint32, n, i int) uint32 {
	share := total / uint32(n)
	if uint32(i) < total%uint32(n) {
		share++
	}
	return max(share, 1)
}

func anyRemote(eps []*discovery.Endpoint, network string) bool {
	for _, ep := range eps {
		if ep.Network != "" && ep.Network != network {
			return true
		}
	}
	return false
}
