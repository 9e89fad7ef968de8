package translate

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Names of the inbound passthrough chain and of inbound virtual hosts.
const (
	virtualInboundPassthroughChain = "virtualInbound"
	inboundVirtualHostPrefix       = "inbound|http|"
)

// inboundPort is one port the proxy accepts traffic for its workload on,
// delivered to cluster "inbound|PORT||".
type inboundPort struct {
	Port     uint32
	Protocol discovery.Protocol
	// Bind and BindToPort place the port on a listener of its own (capture
	// NONE); otherwise it is a filter chain of virtualInbound.
	Bind       string
	BindToPort bool
}

// inboundPorts lists the inbound ports of p: the Sidecar's ingress
// listeners, or else the ports of the services whose endpoints are p's
// addresses (none under capture NONE, where nothing would reach them). The
// ports are those of the targets the inbound clusters are built for (see
// inboundTargets).
func inboundPorts(p *model.Proxy, scope *Scope, targets []inboundTarget) []inboundPort {
	sc := sidecarOf(scope)
	if p.Type == model.RouterProxy {
		return nil
	}
	var out []inboundPort
	for _, t := range targets {
		ip := inboundPort{Port: t.port, Protocol: t.protocol, Bind: wildcardAddress}
		if in := ingressFor(sc, t.port); in != nil {
			applyIngressBinding(&ip, p, in)
		}
		if canBindToPort(p, ip.BindToPort, ip.Port) {
			out = append(out, ip)
		}
	}
	return out
}

func ingressFor(sc *networking.Sidecar, port uint32) *networking.IstioIngressListener {
	for _, in := range sc.GetIngress() {
		if in.GetPort().GetNumber() == port {
			return in
		}
	}
	return nil
}

// applyIngressBinding binds an ingress listener for real when its capture
// mode (or, by default, the proxy's) is NONE.
func applyIngressBinding(ip *inboundPort, p *model.Proxy, in *networking.IstioIngressListener) {
	switch in.GetCaptureMode() {
	case networking.CaptureMode_DEFAULT:
		ip.BindToPort = proxyCaptureNone(p)
	default:
		ip.BindToPort = in.GetCaptureMode() == networking.CaptureMode_NONE
	}
	if in.GetBind() != "" {
		ip.Bind = in.GetBind()
	}
}

// inboundListeners builds virtualInbound (unless capture is NONE) with a
// chain per captured port, and a listener per port bound for real.
func inboundListeners(p *model.Proxy, scope *Scope, targets []inboundTarget) []*listenerv3.Listener {
	var out []*listenerv3.Listener
	var captured []*listenerv3.FilterChain
	for _, ip := range inboundPorts(p, scope, targets) {
		chain := inboundChain(ip)
		if ip.BindToPort {
			out = append(out, boundInboundListener(ip, chain))
			continue
		}
		chain.FilterChainMatch = &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(ip.Port)}
		captured = append(captured, chain)
	}
	if !proxyCaptureNone(p) && p.Type != model.RouterProxy {
		out = append(out, virtualInboundListener(p, captured))
	}
	return out
}

// virtualInboundListener receives redirected inbound connections on 15006
// and picks a chain by original destination port; other ports pass through
// to the workload unchanged.
func virtualInboundListener(p *model.Proxy, chains []*listenerv3.FilterChain) *listenerv3.Listener {
	all := []*listenerv3.FilterChain{blackholeChain(virtualInboundBlackholeChain, InboundCapturePort)}
	all = append(all, chains...)
	all = append(all, &listenerv3.FilterChain{
		Name:    virtualInboundPassthroughChain,
		Filters: []*listenerv3.Filter{tcpProxy(InboundPassthrough, InboundPassthrough)},
	})
	return &listenerv3.Listener{
		Name:                             VirtualInboundListener,
		Address:                          socketAddress(wildcardAddress, InboundCapturePort),
		Transparent:                      transparentFor(p),
		ListenerFilters:                  []*listenerv3.ListenerFilter{originalDstFilter()},
		TrafficDirection:                 corev3.TrafficDirection_INBOUND,
		ContinueOnListenerFiltersTimeout: true,
		FilterChains:                     all,
	}
}

func boundInboundListener(ip inboundPort, chain *listenerv3.FilterChain) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:                             ListenerName(ip.Bind, ip.Port),
		Address:                          socketAddress(ip.Bind, ip.Port),
		TrafficDirection:                 corev3.TrafficDirection_INBOUND,
		ContinueOnListenerFiltersTimeout: true,
		FilterChains:                     []*listenerv3.FilterChain{chain},
	}
}

// inboundChain delivers one port's traffic to its inbound cluster: through
// an HTTP connection manager for HTTP ports, as a TCP proxy otherwise.
func inboundChain(ip inboundPort) *listenerv3.FilterChain {
	name := ListenerName(ip.Bind, ip.Port)
	cluster := ClusterName(Inbound, ip.Port, "", "")
	chain := &listenerv3.FilterChain{Name: name, TransportSocket: inboundTransportSocket(ip)}
	if ip.Protocol.IsHTTP() {
		chain.Filters = []*listenerv3.Filter{httpConnectionManager(hcmOptions{
			statPrefix: "inbound_" + name,
			routes:     inboundRouteConfig(ip.Port, cluster),
			inbound:    true,
		})}
	} else {
		chain.Filters = []*listenerv3.Filter{tcpProxy(cluster, cluster)}
	}
	return chain
}

// inboundTransportSocket is where inbound mTLS will terminate; plaintext
// for now.
func inboundTransportSocket(inboundPort) *corev3.TransportSocket { return nil }

// inboundRouteConfig sends every request to the inbound cluster, without a
// timeout, retrying only requests that never reached the application.
func inboundRouteConfig(port uint32, cluster string) *routev3.RouteConfiguration {
	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
		Timeout:          noTimeout(),
		MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{
			MaxStreamDuration:    noTimeout(),
			GrpcTimeoutHeaderMax: noTimeout(),
		},
		RetryPolicy: &routev3.RetryPolicy{RetryOn: "reset-before-request", NumRetries: wrapperspb.UInt32(defaultRetryAttempts)},
	}
	return &routev3.RouteConfiguration{
		Name: cluster,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    inboundVirtualHostPrefix + strconv.FormatUint(uint64(port), 10),
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:   defaultRouteName,
				Match:  routeMatch(nil),
				Action: &routev3.Route_Route{Route: action},
			}},
		}},
		ValidateClusters: wrapperspb.Bool(false),
	}
}
