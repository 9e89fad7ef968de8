package translate

import (
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// sniDNATClusters are the clusters an AUTO_PASSTHROUGH gateway forwards
// mesh mTLS to, as Istio's "sni-dnat" gateways have them: for every
// outbound cluster "outbound|PORT|SUBSET|HOST", a copy named by its SNI
// "outbound_.PORT_.SUBSET_.HOST" that keeps its endpoints and load
// balancing but originates no TLS (the client's mTLS passes through to the
// endpoint's sidecar). Only gateways with an AUTO_PASSTHROUGH server get
// them.
func sniDNATClusters(idx *Index, p *model.Proxy, clusters []*clusterv3.Cluster, loads []*endpointv3.ClusterLoadAssignment) ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	if p.Type != model.RouterProxy || !hasAutoPassthrough(idx, p) {
		return nil, nil
	}
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
			outL = append(outL, copied)
		}
	}
	return outC, outL
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
