package translate

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// passthroughIdleTimeout closes idle pass-through connections, as Istio does.
const passthroughIdleTimeout = 5 * time.Minute

// fixedClusters are the clusters every sidecar has whatever the mesh holds:
// PassthroughCluster and InboundPassthroughCluster forward to the original
// destination, BlackHoleCluster has no endpoints and so refuses everything.
func fixedClusters(p *model.Proxy) []*clusterv3.Cluster {
	out := []*clusterv3.Cluster{passthroughCluster(PassthroughCluster), blackHoleCluster()}
	if p.Type != model.RouterProxy {
		inbound := passthroughCluster(InboundPassthrough)
		inbound.UpstreamBindConfig = inboundPassthroughBind(p)
		out = append(out, inbound)
	}
	return out
}

// passthroughCluster forwards to the original destination, speaking the
// client's HTTP version, with default (unlimited) circuit breakers.
func passthroughCluster(name string) *clusterv3.Cluster {
	d := newDraft(name, clusterv3.Cluster_ORIGINAL_DST)
	d.cluster.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	applyConnectionPool(d, nil)
	d.commonHTTPOptions().IdleTimeout = durationpb.New(passthroughIdleTimeout)
	d.useDownstreamProtocol()
	return d.finish()
}

func blackHoleCluster() *clusterv3.Cluster {
	d := newDraft(BlackHoleCluster, clusterv3.Cluster_STATIC)
	d.cluster.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	return d.finish()
}

// inboundPassthroughBind sources inbound pass-through connections from the
// address iptables lets through, in the proxy's address family.
func inboundPassthroughBind(p *model.Proxy) *corev3.BindConfig {
	if workloadIP(p, false) == "" && workloadIP(p, true) != "" {
		return passthroughBind(InboundPassthroughBindIPv6)
	}
	return passthroughBind(InboundPassthroughBindIPv4)
}
