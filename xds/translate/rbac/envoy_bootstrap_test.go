package rbac

import (
	"slices"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A static bootstrap for the Envoy tests: HTTP listeners whose connection
// manager runs the generated RBAC filters then answers 200 "ok" itself, and
// TCP listeners whose RBAC filters guard a tcp_proxy to an echo server.
// Every address is on loopback; listeners bind port 0 and the admin
// interface reports the ports Envoy picked.

type testBootstrap struct {
	b *bootstrapv3.Bootstrap
}

func newTestBootstrap() *testBootstrap {
	return &testBootstrap{b: &bootstrapv3.Bootstrap{
		Node:            &corev3.Node{Id: "rbac-test", Cluster: "rbac-test"},
		Admin:           &bootstrapv3.Admin{Address: loopback(0)},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{},
	}}
}

func loopback(port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// addHTTP adds listener name running filters; tls, when set, requires a
// client certificate.
func (tb *testBootstrap) addHTTP(name string, filters []*hcmv3.HttpFilter, tls *tlsv3.DownstreamTlsContext) {
	router := &hcmv3.HttpFilter{Name: wellknown.Router, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typedAny(&routerv3.Router{})}}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:  name,
		HttpFilters: append(append([]*hcmv3.HttpFilter{}, filters...), router),
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: name,
			VirtualHosts: []*routev3.VirtualHost{{
				Name: "all", Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
						Status: 200, Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "ok"}},
					}},
				}},
			}},
		}},
	}
	chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: wellknown.HTTPConnectionManager, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(hcm)},
	}}}
	if tls != nil {
		chain.TransportSocket = &corev3.TransportSocket{
			Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typedAny(tls)},
		}
	}
	tb.addListener(name, chain)
}

// addTCP adds listener name running filters before a tcp_proxy to cluster.
func (tb *testBootstrap) addTCP(name string, filters []*listenerv3.Filter, cluster string) {
	proxy := &tcpproxyv3.TcpProxy{StatPrefix: name, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster}}
	all := append(append([]*listenerv3.Filter{}, filters...), &listenerv3.Filter{
		Name: wellknown.TCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(proxy)},
	})
	tb.addListener(name, &listenerv3.FilterChain{Filters: all})
}

func (tb *testBootstrap) addListener(name string, chain *listenerv3.FilterChain) {
	tb.b.StaticResources.Listeners = append(tb.b.StaticResources.Listeners, &listenerv3.Listener{
		Name: name, Address: loopback(0), FilterChains: []*listenerv3.FilterChain{chain},
	})
}

// addCluster adds a static cluster of one loopback endpoint.
func (tb *testBootstrap) addCluster(name string, port uint32) {
	tb.b.StaticResources.Clusters = append(tb.b.StaticResources.Clusters, &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: loopback(port)}},
			}}}},
		},
	})
}

// addClusters adds clusters whose names the bootstrap does not hold yet.
func (tb *testBootstrap) addClusters(clusters ...*clusterv3.Cluster) {
	for _, c := range clusters {
		if !slices.ContainsFunc(tb.b.StaticResources.Clusters, func(have *clusterv3.Cluster) bool { return have.GetName() == c.GetName() }) {
			tb.b.StaticResources.Clusters = append(tb.b.StaticResources.Clusters, c)
		}
	}
}

func (tb *testBootstrap) json(t *testing.T) []byte {
	t.Helper()
	if err := tb.b.Validate(); err != nil {
		t.Fatalf("test bootstrap is invalid: %v", err)
	}
	js, err := protojson.Marshal(tb.b)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// mtlsContext requires a client certificate signed by the test CA.
func mtlsContext(pki *testPKI) *tlsv3.DownstreamTlsContext {
	inline := func(s string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
	}
	return &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(true),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: inline(pki.serverCert), PrivateKey: inline(pki.serverKey),
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inline(pki.caCert),
			}},
		},
	}
}
