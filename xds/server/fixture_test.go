package server

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// The mesh the tests serve: two HTTP services; the endpoints of reviews
// change from snapshot to snapshot, those of ratings never do.
const (
	reviewsHost = "reviews.default.svc.cluster.local"
	reviewsPort = 9080
	ratingsHost = "ratings.default.svc.cluster.local"
	ratingsPort = 9090
	ratingsIP   = "10.2.0.1"
)

var (
	reviewsCluster = translate.ClusterName(translate.Outbound, reviewsPort, "", reviewsHost)
	reviewsRoute   = translate.RouteConfigName("", reviewsPort)
)

// details is a third service some tests add to the mesh.
const (
	detailsHost = "details.default.svc.cluster.local"
	detailsPort = 9091
	detailsIP   = "10.3.0.1"
)

var (
	ratingsCluster = translate.ClusterName(translate.Outbound, ratingsPort, "", ratingsHost)
	detailsCluster = translate.ClusterName(translate.Outbound, detailsPort, "", detailsHost)
)

// world describes one snapshot of the test mesh.
type world struct {
	version   uint64
	endpoints []string // addresses of the reviews endpoints
	// timeout, when set, is carried by a VirtualService and shows in the
	// route configuration only.
	timeout time.Duration
	// details adds the details service; noRatings removes ratings.
	details, noRatings bool
}

func (w world) snapshot() *model.Snapshot {
	reviews := httpService(reviewsHost, reviewsPort)
	services := []*discovery.Service{reviews}
	endpoints := map[discovery.ServiceKey][]*discovery.Endpoint{reviews.ServiceKey: endpointsAt(reviewsPort, w.endpoints...)}
	add := func(host string, port uint32, ip string) {
		svc := httpService(host, port)
		services = append(services, svc)
		endpoints[svc.ServiceKey] = endpointsAt(port, ip)
	}
	if !w.noRatings {
		add(ratingsHost, ratingsPort, ratingsIP)
	}
	if w.details {
		add(detailsHost, detailsPort, detailsIP)
	}
	var objs []*policy.Object
	if w.timeout > 0 {
		objs = append(objs, &policy.Object{
			Key: policy.Key{Kind: policy.KindVirtualService, Namespace: "default", Name: "reviews"},
			Spec: &networking.VirtualService{
				Hosts: []string{"reviews"},
				Http:  []*networking.HTTPRoute{{Timeout: durationpb.New(w.timeout)}},
			},
		})
	}
	return &model.Snapshot{
		Version: w.version,
		Config:  policy.NewConfig(objs),
		Catalog: discovery.NewCatalog(services, endpoints),
	}
}

func httpService(host string, port uint32) *discovery.Service {
	return &discovery.Service{
		ServiceKey: discovery.ServiceKey{Hostname: host, Namespace: "default"},
		Ports:      []discovery.Port{{Name: "http", Number: port, Protocol: discovery.ProtocolHTTP}},
	}
}

func endpointsAt(port uint32, addrs ...string) []*discovery.Endpoint {
	var eps []*discovery.Endpoint
	for _, a := range addrs {
		eps = append(eps, &discovery.Endpoint{Address: a, Port: port, ServicePort: port})
	}
	return eps
}

// meshTranslate stands in for translate.Translate: per HTTP service port an
// EDS cluster and its endpoints, a listener taking route configuration
// "PORT" over ADS, and that route configuration, whose timeout comes from
// the first VirtualService. Each call builds new objects.
func meshTranslate(idx *translate.Index, p *model.Proxy) (*translate.Resources, error) {
	res := &translate.Resources{}
	for _, svc := range idx.Snapshot.Catalog.Services() {
		for _, port := range svc.Ports {
			name := translate.ClusterName(translate.Outbound, port.Number, "", svc.Hostname)
			res.Clusters = append(res.Clusters, edsCluster(name))
			res.Endpoints = append(res.Endpoints, loadAssignment(name, idx.Snapshot.Catalog.Endpoints(svc.ServiceKey, port.Number)))
			route := translate.RouteConfigName("", port.Number)
			res.Listeners = append(res.Listeners, httpListener(port.Number, route))
			res.Routes = append(res.Routes, routeConfig(route, svc.Hostname, port.Number, name, routeTimeout(idx)))
		}
	}
	return res, nil
}

func routeTimeout(idx *translate.Index) time.Duration {
	for _, o := range idx.Snapshot.Config.List(policy.KindVirtualService) {
		if t := o.Spec.(*networking.VirtualService).GetHttp()[0].GetTimeout(); t != nil {
			return t.AsDuration()
		}
	}
	return 0
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}
}

func loadAssignment(cluster string, eps []*discovery.Endpoint) *endpointv3.ClusterLoadAssignment {
	locality := &endpointv3.LocalityLbEndpoints{}
	for _, e := range eps {
		locality.LbEndpoints = append(locality.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: socketAddress(e.Address, e.Port),
			}},
		})
	}
	return &endpointv3.ClusterLoadAssignment{ClusterName: cluster, Endpoints: []*endpointv3.LocalityLbEndpoints{locality}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func httpListener(port uint32, route string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "outbound_" + strconv.Itoa(int(port)),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: adsSource(), RouteConfigName: route,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
		}},
	}
	return &listenerv3.Listener{
		Name:    translate.ListenerName("0.0.0.0", port),
		Address: socketAddress("0.0.0.0", port),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}}},
	}
}

func routeConfig(name, host string, port uint32, cluster string, timeout time.Duration) *routev3.RouteConfiguration {
	action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster}}
	if timeout > 0 {
		action.Timeout = durationpb.New(timeout)
	}
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    translate.VirtualHostName(host, port),
			Domains: []string{host, fmt.Sprintf("%s:%d", host, port)},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: action},
			}},
		}},
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// sidecarNode is an Envoy node as istio-proxy sends it for pod app-1 in
// namespace default.
func sidecarNode(t testing.TB, pod string) *corev3.Node {
	t.Helper()
	md, err := model.NodeMetadata(map[string]any{
		"NAMESPACE":         "default",
		"SERVICE_ACCOUNT":   "app",
		"CLUSTER_ID":        "Kubernetes",
		"INTERCEPTION_MODE": "REDIRECT",
		"INSTANCE_IPS":      "10.0.0.1",
		"LABELS":            map[string]any{"app": "app"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: "sidecar~10.0.0.1~" + pod + ".default~default.svc.cluster.local", Cluster: "app.default", Metadata: md}
}
