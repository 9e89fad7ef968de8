package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// outboundCluster describes one outbound cluster before it is built: the
// service port it reaches, the endpoints it may use and the traffic policy
// that applies to it.
type outboundCluster struct {
	name      string
	svc       *discovery.Service
	port      discovery.Port
	policy    *networking.TrafficPolicy
	endpoints []*discovery.Endpoint
	proxyIPs  []string
	sidecar   bool // gateways never follow the client's HTTP version
	subset    string
	mesh      meshIdentity
	locality  string // the proxy's, for locality load balancing
}

// outboundClusters builds the clusters of one service port: the default
// "outbound|PORT||HOST" and one per subset of rule, the DestinationRule
// that applies (nil for none), plus the load assignments of those that use
// EDS.
func outboundClusters(idx *Index, p *model.Proxy, svc *discovery.Service, port discovery.Port, rule *DestinationRuleRef) ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	rulePolicy := rule.trafficPolicy()
	eps := idx.endpoints(svc.ServiceKey, port.Number)
	mesh := idx.meshIdentity(svc)
	reachable := func(eps []*discovery.Endpoint) []*discovery.Endpoint {
		return viaNetworkGateways(mesh.withPeerModes(eps), p.Network, idx)
	}
	base := outboundCluster{svc: svc, port: port, endpoints: reachable(eps), proxyIPs: p.IPAddresses,
		sidecar: p.Type != model.RouterProxy, mesh: mesh, locality: p.Locality}

	var clusters []*clusterv3.Cluster
	var loads []*endpointv3.ClusterLoadAssignment
	add := func(oc outboundCluster) {
		c, cla := oc.build()
		if c != nil {
			clusters = append(clusters, c)
		}
		if cla != nil {
			loads = append(loads, cla)
		}
	}

	def := base
	def.name = ClusterName(Outbound, port.Number, "", svc.Hostname)
	def.policy, _ = portTrafficPolicy(rulePolicy, port.Number)
	add(def)
	for _, subset := range rule.subsets() {
		sc := base
		sc.name = ClusterName(Outbound, port.Number, subset.GetName(), svc.Hostname)
		sc.subset = subset.GetName()
		sc.policy = subsetTrafficPolicy(rulePolicy, subset.GetTrafficPolicy(), port.Number)
		sc.endpoints = reachable(subsetEndpoints(eps, subset.GetLabels()))
		add(sc)
	}
	return clusters, loads
}

func (ref *DestinationRuleRef) trafficPolicy() *networking.TrafficPolicy {
	if ref == nil {
		return nil
	}
	return ref.Spec.GetTrafficPolicy()
}

func (ref *DestinationRuleRef) subsets() []*networking.Subset {
	if ref == nil {
		return nil
	}
	return ref.Spec.GetSubsets()
}

// build returns the cluster and, for EDS clusters, its load assignment. A
// DNS cluster without endpoints is left out (Envoy would reject it), as
// Istio does.
func (oc outboundCluster) build() (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment) {
	d := newDraft(oc.name, discoveryType(oc.svc.Resolution))
	if isDNS(d.cluster.GetType()) {
		if len(oc.endpoints) == 0 {
			return nil, nil
		}
		d.setDNS(oc.proxyIPs)
		d.cluster.LoadAssignment = loadAssignment(oc.name, dnsEndpoints(d.cluster.GetType(), oc.endpoints))
	}
	if d.cluster.GetType() == clusterv3.Cluster_EDS {
		d.setEDS()
	}
	protocol := oc.port.Protocol
	if !oc.sidecar && protocol == discovery.ProtocolUnknown {
		protocol = discovery.ProtocolTCP // no protocol sniffing on gateways
	}
	applyOutboundPolicy(d, protocol, oc.policy, oc.meshPeer())
	if d.cluster.GetType() != clusterv3.Cluster_EDS {
		applyLocality(d, d.cluster.GetLoadAssignment(), oc.locality, oc.policy)
		return d.finish(), nil
	}
	cla := loadAssignment(oc.name, oc.endpoints)
	applyLocality(d, cla, oc.locality, oc.policy)
	return d.finish(), cla
}

// applyOutboundPolicy applies every part of a traffic policy to an outbound
// cluster, in the order the parts depend on each other.
func applyOutboundPolicy(d *clusterDraft, protocol discovery.Protocol, policy *networking.TrafficPolicy, mesh meshPeer) {
	pool := policy.GetConnectionPool()
	applyConnectionPool(d, pool)
	applyUpstreamProtocol(d, protocol, pool)
	applyMaxConcurrentStreams(d, pool)
	applyOutlierDetection(d, policy.GetOutlierDetection())
	applyLoadBalancer(d, policy.GetLoadBalancer())
	applyClientTLS(d, policy.GetTls(), mesh)
}

// discoveryType maps a service's resolution onto how Envoy finds endpoints.
func discoveryType(r discovery.Resolution) clusterv3.Cluster_DiscoveryType {
	switch r {
	case discovery.ResolutionDNS:
		return clusterv3.Cluster_STRICT_DNS
	case discovery.ResolutionDNSRoundRobin:
		return clusterv3.Cluster_LOGICAL_DNS
	case discovery.ResolutionNone:
		return clusterv3.Cluster_ORIGINAL_DST
	}
	return clusterv3.Cluster_EDS
}

func isDNS(t clusterv3.Cluster_DiscoveryType) bool {
	return t == clusterv3.Cluster_STRICT_DNS || t == clusterv3.Cluster_LOGICAL_DNS
}

// dnsEndpoints keeps only the first endpoint for LOGICAL_DNS, which Envoy
// requires to have exactly one host.
func dnsEndpoints(t clusterv3.Cluster_DiscoveryType, eps []*discovery.Endpoint) []*discovery.Endpoint {
	if t == clusterv3.Cluster_LOGICAL_DNS && len(eps) > 1 {
		return eps[:1]
	}
	return eps
}

// applyUpstreamProtocol chooses the HTTP version spoken to endpoints, in
// Istio's order of precedence: h2UpgradePolicy UPGRADE, then
// useClientProtocol, then the port's protocol (HTTP2/GRPC speak HTTP/2, a
// port of unknown protocol follows the client).
func applyUpstreamProtocol(d *clusterDraft, protocol discovery.Protocol, pool *networking.ConnectionPoolSettings) {
	switch {
	case pool.GetHttp().GetH2UpgradePolicy() == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE:
		d.useHTTP2()
	case pool.GetHttp().GetUseClientProtocol():
		d.useDownstreamProtocol()
	case protocol.IsHTTP2():
		d.useHTTP2()
	case protocol == discovery.ProtocolUnknown:
		d.useDownstreamProtocol()
	}
}

// meshPeer is what mesh mTLS to the cluster's endpoints needs.
func (oc outboundCluster) meshPeer() meshPeer {
	return meshPeer{
		auto:      oc.mesh.auto,
		sni:       SNI(oc.port.Number, oc.subset, oc.svc.Hostname),
		sans:      oc.mesh.sans,
		endpoints: oc.endpoints,
	}
}
