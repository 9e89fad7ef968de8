package bootstrap

import (
	"fmt"
	"math"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	downstreamconnsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// XDSClusterName is the static cluster that carries the ADS stream.
const XDSClusterName = "xds-grpc"

const (
	xdsConnectTimeout     = time.Second
	http2KeepaliveEvery   = 30 * time.Second
	http2KeepaliveTimeout = 10 * time.Second
	tcpKeepaliveSeconds   = 300
	httpOptionsName       = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	maxConnectionsMonitor = "envoy.resource_monitors.global_downstream_max_connections"
)

// Generate builds the bootstrap for o and validates it.
func Generate(o Options) (*bootstrapv3.Bootstrap, error) {
	r, err := resolve(o)
	if err != nil {
		return nil, err
	}
	node, err := buildNode(r)
	if err != nil {
		return nil, err
	}
	xdsCluster, err := buildXDSCluster(r.xds)
	if err != nil {
		return nil, err
	}
	if xdsCluster.TransportSocket, err = xdsTransportSocket(o.TLS); err != nil {
		return nil, err
	}
	overload, err := buildOverloadManager()
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node:             node,
		DynamicResources: buildDynamicResources(r.delta),
		StaticResources:  &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xdsCluster}},
		Admin:            &bootstrapv3.Admin{Address: socketAddress(r.admin)},
		OverloadManager:  overload,
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("generated bootstrap is invalid: %w", err)
	}
	return b, nil
}

func buildNode(r *resolved) (*corev3.Node, error) {
	md, err := model.NodeMetadata(r.metadata)
	if err != nil {
		return nil, &OptionError{Option: "Metadata", Err: fmt.Errorf("node metadata: %w", err)}
	}
	return &corev3.Node{Id: r.nodeID, Cluster: r.cluster, Metadata: md, Locality: r.locality}, nil
}

// buildDynamicResources sends listeners and clusters (and through them
// routes, endpoints and secrets) over one ADS stream.
func buildDynamicResources(delta bool) *bootstrapv3.Bootstrap_DynamicResources {
	apiType := corev3.ApiConfigSource_GRPC
	if delta {
		apiType = corev3.ApiConfigSource_DELTA_GRPC
	}
	return &bootstrapv3.Bootstrap_DynamicResources{
		AdsConfig: &corev3.ApiConfigSource{
			ApiType:             apiType,
			TransportApiVersion: corev3.ApiVersion_V3,
			GrpcServices: []*corev3.GrpcService{{
				TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName}},
			}},
			SetNodeOnFirstMessageOnly: true,
		},
		CdsConfig: adsConfigSource(),
		LdsConfig: adsConfigSource(),
	}
}

func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// buildXDSCluster is the HTTP/2 cluster to Isthmus, with keepalives so a
// dead control plane connection is noticed and replaced.
func buildXDSCluster(xds hostPort) (*clusterv3.Cluster, error) {
	httpOptions, err := anypb.New(http2Options())
	if err != nil {
		return nil, fmt.Errorf("xds-grpc protocol options: %w", err)
	}
	c := &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:                durationpb.New(xdsConnectTimeout),
		LoadAssignment:                singleEndpoint(XDSClusterName, xds),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpOptionsName: httpOptions},
		UpstreamConnectionOptions: &clusterv3.UpstreamConnectionOptions{
			TcpKeepalive: &corev3.TcpKeepalive{KeepaliveTime: wrapperspb.UInt32(tcpKeepaliveSeconds)},
		},
		CircuitBreakers: unlimitedCircuitBreakers(),
	}
	if !xds.isIP() {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	return c, nil
}

func http2Options() *httpv3.HttpProtocolOptions {
	return &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
						ConnectionKeepalive: &corev3.KeepaliveSettings{
							Interval: durationpb.New(http2KeepaliveEvery),
							Timeout:  durationpb.New(http2KeepaliveTimeout),
						},
					},
				},
			},
		},
	}
}

// unlimitedCircuitBreakers keeps Envoy's default limits from throttling
// the xDS stream.
func unlimitedCircuitBreakers() *clusterv3.CircuitBreakers {
	var thresholds []*clusterv3.CircuitBreakers_Thresholds
	for _, p := range []corev3.RoutingPriority{corev3.RoutingPriority_DEFAULT, corev3.RoutingPriority_HIGH} {
		thresholds = append(thresholds, &clusterv3.CircuitBreakers_Thresholds{
			Priority:           p,
			MaxConnections:     wrapperspb.UInt32(100000),
			MaxPendingRequests: wrapperspb.UInt32(100000),
			MaxRequests:        wrapperspb.UInt32(100000),
		})
	}
	return &clusterv3.CircuitBreakers{Thresholds: thresholds}
}

func singleEndpoint(cluster string, hp hostPort) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(hp)}},
			}},
		}},
	}
}

func socketAddress(hp hostPort) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       hp.host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: hp.port},
	}}}
}

// buildOverloadManager sets an explicit (very high) downstream connection
// limit, which Envoy otherwise warns about at start.
func buildOverloadManager() (*overloadv3.OverloadManager, error) {
	cfg, err := anypb.New(&downstreamconnsv3.DownstreamConnectionsConfig{MaxActiveDownstreamConnections: math.MaxInt32})
	if err != nil {
		return nil, fmt.Errorf("overload manager: %w", err)
	}
	return &overloadv3.OverloadManager{ResourceMonitors: []*overloadv3.ResourceMonitor{{
		Name:       maxConnectionsMonitor,
		ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: cfg},
	}}}, nil
}
