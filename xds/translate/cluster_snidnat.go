package translate

import (
	"net"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// sniDNATClusters are the clusters an AUTO_PASSTHROUGH gateway forwards
// mesh mTLS to, as Istio's "sni-dnat" gateways have them: for every
// outbound cluster "outbound|PORT|SUBSET|HOST", a copy named by its SNI
// "outbound_.PORT_.SUBSET_.HOST" that keeps its endpoints and load
// balancing but originates no TLS (the client's mTLS passes through to the
// endpoint's sidecar). Only gateways with an AUTO_PASSTHROUGH server get
// them. They keep only the endpoints of the gateway's own network: an
// endpoint reached through another network's gateway would send the
// connection on to that gateway, which may send it back.
func sniDNATClusters(idx *Index, p *model.Proxy, clusters []*clusterv3.Cluster, loads []*endpointv3.ClusterLoadAssignment) ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	if p.Type != model.RouterProxy || !hasAutoPassthrough(idx, p) {
		return nil, nil
	}
	remote := otherNetworksGateways(idx, p.Network)
	loadOf := make(map[string]*endpointv3.ClusterLoadAssignment, len(loads))
	for _, l := range loads {
		loadOf[l.GetClusterName()] = l
	}
	var outC []*clusterv3.Cluster
	var outL []*endpointv3.ClusterLoadAssignment
	for _, c := range clusters {
		sni, ok := sniOfCluster(c.GetName())
		if !ok {
			continue
		}
		outC = append(outC, sniDNATCluster(c, sni))
		if l := loadOf[c.GetName()]; l != nil {
			copied := proto.Clone(l).(*endpointv3.ClusterLoadAssignment)
			copied.ClusterName = sni
			dropEndpointsAt(copied, remote)
			outL = append(outL, copied)
		}
	}
	return outC, outL
}

// otherNetworksGateways are the "ADDRESS:PORT" of the east-west gateways
// of every network but network.
func otherNetworksGateways(idx *Index, network string) map[string]bool {
	out := map[string]bool{}
	for _, gw := range idx.allNetworkGateways() {
		if gw.Network != network {
			out[net.JoinHostPort(gw.Address, strconv.FormatUint(uint64(gw.Port), 10))] = true
		}
	}
	return out
}

// dropEndpointsAt removes from cla the endpoints at one of addrs
// ("ADDRESS:PORT"), and the localities left empty.
func dropEndpointsAt(cla *endpointv3.ClusterLoadAssignment, addrs map[string]bool) {
	if len(addrs) == 0 {
		return
	}
	localities := cla.Endpoints[:0]
	for _, group := range cla.Endpoints {
		kept := group.LbEndpoints[:0]
		weight := uint32(0)
		for _, lb := range group.LbEndpoints {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if addrs[net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))] {
				continue
			}
			kept = append(kept, lb)
			weight += lb.GetLoadBalancingWeight().GetValue()
		}
		if len(kept) == 0 {
			continue
		}
		group.LbEndpoints = kept
		if group.LoadBalancingWeight != nil {
			group.LoadBalancingWeight = wrapperspb.UInt32(weight)
		}
		localities = append(localities, group)
	}
	cla.Endpoints = localities
}

func sniDNATCluster(c *clusterv3.Cluster, sni string) *clusterv3.Cluster {
	copied := proto.Clone(c).(*clusterv3.Cluster)
	copied.Name = sni
	copied.TransportSocket, copied.TransportSocketMatches = nil, nil
	if eds := copied.GetEdsClusterConfig(); eds != nil {
		eds.ServiceName = sni
	}
	if la := copied.GetLoadAssignment(); la != nil {
		la.ClusterName = sni
	}
	return copied
}

// sniOfCluster maps "outbound|PORT|SUBSET|HOST" to its SNI.
func sniOfCluster(name string) (string, bool) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != string(Outbound) {
		return "", false
	}
	port, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return "", false
	}
	return SNI(uint32(port), parts[2], parts[3]), true
}

func hasAutoPassthrough(idx *Index, p *model.Proxy) bool {
	for _, o := range selectedGateways(idx, p) {
		for _, s := range o.Spec.(*networking.Gateway).GetServers() {
			if s.GetTls().GetMode() == networking.ServerTLSSettings_AUTO_PASSTHROUGH {
				return true
			}
		}
	}
	return false
}
