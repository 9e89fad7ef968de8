package translate

import (
	"cmp"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Addresses inbound clusters use.
const (
	// InboundLocalhost is the loopback address a Sidecar ingress
	// defaultEndpoint of "127.0.0.1:PORT" delivers to; such a cluster needs
	// no special source address.
	InboundLocalhost = "127.0.0.1"
	// InboundPassthroughBindIPv4 is the source address of connections the
	// proxy makes to its own workload's IP (the original destination of
	// captured inbound traffic, or a defaultEndpoint of "0.0.0.0:PORT");
	// istio-proxy's iptables rules let traffic from it through instead of
	// capturing it again, and the application sees a loopback peer.
	InboundPassthroughBindIPv4 = "127.0.0.6"
	// InboundPassthroughBindIPv6 is the same for IPv6 workloads.
	InboundPassthroughBindIPv6 = "::6"
	// podIPWildcard in a Sidecar ingress defaultEndpoint stands for the
	// workload's own IP.
	podIPWildcard = "0.0.0.0"
)

// neverCleanup is the longest interval Envoy accepts (about 292 years):
// original-destination inbound hosts are kept for the life of the cluster.
var neverCleanup = &durationpb.Duration{Seconds: (math.MaxInt64 - 999_999_999) / 1_000_000_000}

// inboundTarget is one inbound cluster to build: the workload port it is
// named after, where its traffic goes and which policy shapes it.
type inboundTarget struct {
	port     uint32
	protocol discovery.Protocol
	address  string // endpoint address; empty for original destination
	target   uint32 // endpoint port
	pool     *networking.ConnectionPoolSettings
}

// inboundClusters builds the clusters that deliver traffic to the proxy's own
// workload, one per target (see inboundTargets). Gateways have none.
func inboundClusters(p *model.Proxy, targets []inboundTarget) []*clusterv3.Cluster {
	if p.Type == model.RouterProxy {
		return nil
	}
	var out []*clusterv3.Cluster
	for _, t := range targets {
		out = append(out, t.build(p))
	}
	return out
}

// inboundTargets lists where the proxy's own workload takes traffic: the
// Sidecar's ingress listeners when it has any, otherwise one port of every
// service the proxy's addresses are an endpoint of. Gateways have none, nor
// has a proxy without capture and without Sidecar ingress listeners: nothing
// would deliver inbound traffic to it, and listening on the workload's ports
// would take them from the application. Inbound clusters and listeners
// depend on the proxy only through these targets and its outbound view.
func inboundTargets(idx *Index, p *model.Proxy, scope *Scope) []inboundTarget {
	if p.Type == model.RouterProxy {
		return nil
	}
	sidecar := sidecarSpec(scope)
	if len(sidecar.GetIngress()) > 0 {
		return ingressTargets(sidecar, p)
	}
	if proxyCaptureNone(p) {
		return nil
	}
	return endpointTargets(idx, p, sidecar)
}

func sidecarSpec(scope *Scope) *networking.Sidecar {
	if scope == nil || scope.Sidecar == nil {
		return nil
	}
	sc, _ := scope.Sidecar.Spec.(*networking.Sidecar)
	return sc
}

// endpointTargets finds the service ports the proxy serves: endpoints whose
// address is one of the proxy's. Each workload port gets one cluster,
// delivering to the original destination (the workload's IP and port, as
// the caller addressed it); when several services share the port, the
// first in catalog order shapes it.
func endpointTargets(idx *Index, p *model.Proxy, sidecar *networking.Sidecar) []inboundTarget {
	seen := map[uint32]bool{}
	var out []inboundTarget
	for _, w := range idx.workloadEndpoints(p.IPAddresses) {
		if seen[w.endpoint.Port] {
			continue
		}
		seen[w.endpoint.Port] = true
		out = append(out, endpointTarget(idx, p, w.service, w.endpoint, sidecar))
	}
	slices.SortFunc(out, func(a, b inboundTarget) int { return cmp.Compare(a.port, b.port) })
	return out
}

func endpointTarget(idx *Index, p *model.Proxy, svc *discovery.Service, ep *discovery.Endpoint, sidecar *networking.Sidecar) inboundTarget {
	t := inboundTarget{port: ep.Port, protocol: discovery.ProtocolUnknown}
	if port := svc.Port(ep.ServicePort); port != nil {
		t.protocol = port.Protocol
	}
	policy, _ := portTrafficPolicy(idx.DestinationRule(p.Namespace, svc).trafficPolicy(), ep.ServicePort)
	t.pool = policy.GetConnectionPool()
	if pool := sidecar.GetInboundConnectionPool(); pool != nil {
		t.pool = pool
	}
	return t
}

// ingressTargets follows the Sidecar's ingress listeners, each forwarding to
// its defaultEndpoint: "127.0.0.1:PORT", "0.0.0.0:PORT" (the workload's own
// IP), "unix://PATH", or unset for the original destination.
func ingressTargets(sidecar *networking.Sidecar, p *model.Proxy) []inboundTarget {
	var out []inboundTarget
	seen := map[uint32]bool{}
	for _, in := range sidecar.GetIngress() {
		port := in.GetPort().GetNumber()
		if seen[port] {
			continue
		}
		seen[port] = true
		t := inboundTarget{port: port, protocol: discovery.ParseProtocol(in.GetPort().GetProtocol())}
		if !parseDefaultEndpoint(&t, in.GetDefaultEndpoint(), p) {
			continue
		}
		t.pool = sidecar.GetInboundConnectionPool()
		if in.GetConnectionPool() != nil {
			t.pool = in.GetConnectionPool()
		}
		out = append(out, t)
	}
	return out
}

// parseDefaultEndpoint sets the target's address and port; false when the
// value cannot be used.
func parseDefaultEndpoint(t *inboundTarget, endpoint string, p *model.Proxy) bool {
	if endpoint == "" {
		return true
	}
	if strings.HasPrefix(endpoint, unixPrefix) {
		t.address = endpoint
		return true
	}
	host, portText, err := net.SplitHostPort(endpoint)
	if err != nil {
		return false
	}
	port, err := strconv.ParseUint(portText, 10, 32)
	if err != nil {
		return false
	}
	t.address, t.target = host, uint32(port)
	if host == podIPWildcard || host == "::" {
		t.address = workloadIP(p, host == "::")
	}
	return t.address != ""
}

// workloadIP is the proxy's first address of the wanted family.
func workloadIP(p *model.Proxy, v6 bool) string {
	for _, ip := range p.IPAddresses {
		if addr, err := netip.ParseAddr(ip); err == nil && addr.Unmap().Is4() != v6 {
			return ip
		}
	}
	return ""
}

// build makes the "inbound|PORT||" cluster of proxy p: STATIC to the
// target, or, when there is none, ORIGINAL_DST: each connection goes where
// the caller sent it (the workload's IP and port, which virtualInbound's
// original-destination filter restores), from the passthrough source
// address.
func (t inboundTarget) build(p *model.Proxy) *clusterv3.Cluster {
	name := ClusterName(Inbound, t.port, "", "")
	var d *clusterDraft
	if t.address == "" {
		d = newDraft(name, clusterv3.Cluster_ORIGINAL_DST)
		d.cluster.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		d.cluster.CleanupInterval = neverCleanup
		d.cluster.UpstreamBindConfig = originalDstBind(p)
	} else {
		d = newDraft(name, clusterv3.Cluster_STATIC)
		d.cluster.LoadAssignment = loadAssignment(name, []*discovery.Endpoint{{Address: t.address, Port: t.target}})
		bindOutsideCapture(d, t.address)
	}
	applyConnectionPool(d, t.pool)
	applyUpstreamProtocol(d, t.protocol, nil)
	applyMaxConcurrentStreams(d, t.pool)
	return d.finish()
}

// bindOutsideCapture makes connections to the workload's own (non-loopback)
// IP come from the passthrough source address, so iptables does not capture
// them again.
func bindOutsideCapture(d *clusterDraft, address string) {
	addr, err := netip.ParseAddr(address)
	if err != nil || addr.IsLoopback() {
		return
	}
	source := InboundPassthroughBindIPv4
	if !addr.Unmap().Is4() {
		source = InboundPassthroughBindIPv6
	}
	d.cluster.UpstreamBindConfig = passthroughBind(source)
}

// originalDstBind sources connections to the original destination from the
// passthrough address of its family: 127.0.0.6, or ::6 for a proxy with
// IPv6 addresses only; a dual-stack proxy has both, Envoy picking the one
// of the destination's family.
func originalDstBind(p *model.Proxy) *corev3.BindConfig {
	v4, v6 := workloadIP(p, false) != "", workloadIP(p, true) != ""
	if v6 && !v4 {
		return passthroughBind(InboundPassthroughBindIPv6)
	}
	bind := passthroughBind(InboundPassthroughBindIPv4)
	if v6 {
		bind.ExtraSourceAddresses = []*corev3.ExtraSourceAddress{{
			Address: passthroughBind(InboundPassthroughBindIPv6).GetSourceAddress(),
		}}
	}
	return bind
}

// passthroughBind binds upstream connections to source, any port.
func passthroughBind(source string) *corev3.BindConfig {
	return &corev3.BindConfig{SourceAddress: &corev3.SocketAddress{
		Address:       source,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 0},
	}}
}
