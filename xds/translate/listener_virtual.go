package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Filter chain names of the capture listeners, as istio-proxy tooling
// expects them.
const (
	virtualOutboundBlackholeChain = "virtualOutbound-blackhole"
	virtualInboundBlackholeChain  = "virtualInbound-blackhole"
)

// virtualOutboundListener receives all redirected outbound connections on
// 15001 and hands each to the listener of its original destination; those
// no listener takes follow the outbound traffic policy. Connections sent to
// 15001 itself are dropped, so they cannot loop.
func virtualOutboundListener(p *model.Proxy, policy outboundPolicy) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:             VirtualOutboundListener,
		Address:          socketAddress(wildcardAddress, OutboundCapturePort),
		Transparent:      transparentFor(p),
		UseOriginalDst:   wrapperspb.Bool(true),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		FilterChains:     []*listenerv3.FilterChain{blackholeChain(virtualOutboundBlackholeChain, OutboundCapturePort)},
		DefaultFilterChain: &listenerv3.FilterChain{
			Name:    passthroughFilterChain,
			Filters: []*listenerv3.Filter{tcpProxy(policy.Cluster, policy.Cluster)},
		},
	}
}

func blackholeChain(name string, port uint32) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name:             name,
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port)},
		Filters:          []*listenerv3.Filter{tcpProxy(BlackHoleCluster, BlackHoleCluster)},
	}
}

// transparentFor marks capture listeners transparent under TPROXY.
func transparentFor(p *model.Proxy) *wrapperspb.BoolValue {
	if p.InterceptionMode == model.InterceptTProxy {
		return wrapperspb.Bool(true)
	}
	return nil
}
