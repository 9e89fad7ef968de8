package translate

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	httpinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Server header inbound listeners answer with, as istio-proxy does.
const inboundServerName = "istio-envoy"

// hcmOptions are the parts of an HTTP connection manager that differ
// between listeners.
type hcmOptions struct {
	statPrefix string
	rds        string                      // route configuration served over ADS
	routes     *routev3.RouteConfiguration // or an inline one
	inbound    bool
	// authz are the workload's RBAC filters, run first.
	authz []*hcmv3.HttpFilter
	// tracing reports spans of the requests, when set.
	tracing *hcmv3.HttpConnectionManager_Tracing
}

// httpConnectionManager builds the HTTP filter of a listener. Fault and CORS
// filters run before the router so routes can configure them.
func httpConnectionManager(opts hcmOptions) *listenerv3.Filter {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:                   opts.statPrefix,
		CodecType:                    hcmv3.HttpConnectionManager_AUTO,
		HttpFilters:                  append(slices.Clip(opts.authz), httpFilters()...),
		UseRemoteAddress:             wrapperspb.Bool(false),
		GenerateRequestId:            wrapperspb.Bool(true),
		NormalizePath:                wrapperspb.Bool(true),
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		StreamIdleTimeout:            durationpb.New(0),
		UpgradeConfigs:               []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
		Tracing:                      opts.tracing,
	}
	if opts.inbound {
		hcm.ServerName = inboundServerName
		hcm.ForwardClientCertDetails = hcmv3.HttpConnectionManager_APPEND_FORWARD
		hcm.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(true), Dns: true, Uri: true,
		}
	}
	if opts.rds != "" {
		hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: opts.rds,
		}}
	} else {
		hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: opts.routes}
	}
	return &listenerv3.Filter{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(hcm)},
	}
}

func httpFilters() []*hcmv3.HttpFilter {
	return []*hcmv3.HttpFilter{
		{Name: wellknown.Fault, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedAny(&faultv3.HTTPFault{})}},
		{Name: wellknown.CORS, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedAny(&corsv3.Cors{})}},
		{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedAny(&routerv3.Router{})}},
	}
}

// adsConfigSource fetches a resource over the ADS stream, waiting for it
// without a deadline.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		InitialFetchTimeout:   durationpb.New(0),
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// tcpProxy forwards a connection to one cluster.
func tcpProxy(statPrefix, cluster string) *listenerv3.Filter {
	return tcpProxyFilter(&tcpproxyv3.TcpProxy{
		StatPrefix:       statPrefix,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
	})
}

// weightedTCPProxy splits connections between clusters by weight.
func weightedTCPProxy(statPrefix string, clusters []*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight) *listenerv3.Filter {
	return tcpProxyFilter(&tcpproxyv3.TcpProxy{
		StatPrefix: statPrefix,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{
			WeightedClusters: &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: clusters},
		},
	})
}

func tcpProxyFilter(tp *tcpproxyv3.TcpProxy) *listenerv3.Filter {
	return &listenerv3.Filter{
		Name:       wellknown.TCPProxy,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(tp)},
	}
}

// Listener filters.
func originalDstFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       wellknown.OriginalDestination,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: typedAny(&originaldstv3.OriginalDst{})},
	}
}

func tlsInspectorFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       wellknown.TlsInspector,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: typedAny(&tlsinspectorv3.TlsInspector{})},
	}
}

func httpInspectorFilter() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       wellknown.HTTPInspector,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: typedAny(&httpinspectorv3.HttpInspector{})},
	}
}

// socketAddress is a TCP address for a listener.
func socketAddress(address string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       address,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
