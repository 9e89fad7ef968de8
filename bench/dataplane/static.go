package dataplane

import (
	"context"
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// Names in the hand-written configuration, which its stats carry.
const (
	staticOutboundPrefix = "static_outbound" // the client Envoy's HTTP connection manager
	staticInboundPrefix  = "static_inbound"  // the server Envoy's
	staticServerCluster  = "server_sidecar"  // the client Envoy's cluster: the server Envoy
	staticAppCluster     = "application"     // the server Envoy's cluster: the application
)

// staticHop is one Envoy of the hand-written scenario: it listens on
// listenIP:servicePort and forwards every request to upstream.
type staticHop struct {
	name       string // the Envoy's name in logs, e.g. "static-client"
	statPrefix string
	listenIP   string
	cluster    string
	upstream   *corev3.SocketAddress
}

// staticBootstrap is the minimal configuration an Envoy needs to forward
// HTTP: one listener with an HTTP connection manager whose only route sends
// everything to one static cluster through the router filter. The admin
// interface listens on a free port of 127.0.0.1.
func staticBootstrap(h staticHop) ([]byte, error) {
	listener, err := staticListener(h)
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Admin: &bootstrapv3.Admin{Address: address("127.0.0.1", 0)},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: []*listenerv3.Listener{listener},
			Clusters:  []*clusterv3.Cluster{staticCluster(h.cluster, h.upstream)},
		},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("static bootstrap %s: %w", h.statPrefix, err)
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("static bootstrap %s: %w", h.statPrefix, err)
	}
	return out, nil
}

func staticListener(h staticHop) (*listenerv3.Listener, error) {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     h.statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: staticRoutes(h.cluster)},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
	hcmAny, err := anypb.New(hcm)
	if err != nil {
		return nil, fmt.Errorf("static listener %s: %w", h.statPrefix, err)
	}
	return &listenerv3.Listener{
		Name:    h.statPrefix,
		Address: address(h.listenIP, servicePort),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcmAny},
		}}}},
	}, nil
}

// staticRoutes sends every request to cluster.
func staticRoutes(cluster string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: "all",
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "all",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}},
			}},
		}},
	}
}

func staticCluster(name string, upstream *corev3.SocketAddress) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: upstream}},
				}},
			}}}},
		},
	}
}

func address(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: socketAddress(ip, port)}}
}

func socketAddress(ip string, port uint32) *corev3.SocketAddress {
	return &corev3.SocketAddress{Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}
}

// mustAny wraps a message whose type is linked in; that cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("wrap %T: %v", m, err))
	}
	return a
}

// startStaticPath starts the server Envoy (to the application) and the
// client Envoy (to the server Envoy), each with its hand-written
// configuration, on two fresh loopback addresses.
func startStaticPath(ctx context.Context, env *environment) (*path, error) {
	ips, err := pickSidecarIPs()
	if err != nil {
		return nil, err
	}
	serverHop := staticHop{name: "static-server", statPrefix: staticInboundPrefix, listenIP: ips.server, cluster: staticAppCluster,
		upstream: socketAddress("127.0.0.1", uint32(env.app.port()))}
	clientHop := staticHop{name: "static-client", statPrefix: staticOutboundPrefix, listenIP: ips.client, cluster: staticServerCluster,
		upstream: socketAddress(ips.server, servicePort)}
	p := &path{}
	for _, h := range []staticHop{serverHop, clientHop} {
		e, err := startStaticEnvoy(ctx, env, h)
		if err != nil {
			if p.close != nil {
				p.close()
			}
			return nil, err
		}
		p.own(e)
	}
	server, client := p.envoys[0], p.envoys[1]
	p.target = target{URL: "http://" + listenAddr(ips.client) + "/", Host: serviceHost}
	p.hops = []hop{
		{name: "client Envoy listener", envoy: client, stat: "http." + staticOutboundPrefix + ".downstream_rq_total"},
		{name: "client Envoy cluster", envoy: client, stat: "cluster." + staticServerCluster + ".upstream_rq_total"},
		{name: "server Envoy listener", envoy: server, stat: "http." + staticInboundPrefix + ".downstream_rq_total"},
		{name: "server Envoy cluster", envoy: server, stat: "cluster." + staticAppCluster + ".upstream_rq_total"},
	}
	return p, nil
}

func startStaticEnvoy(ctx context.Context, env *environment, h staticHop) (*localmesh.Envoy, error) {
	bootstrap, err := staticBootstrap(h)
	if err != nil {
		return nil, err
	}
	name := h.name
	e, err := localmesh.StartEnvoy(ctx, localmesh.EnvoyOptions{Name: name, Bin: env.envoyBin, Bootstrap: bootstrap, LogDir: env.logDir})
	if err != nil {
		return nil, err
	}
	if err := e.WaitListener(ctx, listenAddr(h.listenIP)); err != nil {
		e.Close()
		return nil, fmt.Errorf("%s: %w\nenvoy log:\n%s", name, err, e.LogTail(20))
	}
	return e, nil
}
