package server

import (
	"context"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// xdsService is the gRPC face of the Server: ADS and the per-type
// discovery services, each stream served by the Server's own streams
// (sotwStream, deltaStream). The Fetch methods (xDS over REST-like unary
// calls) are left unimplemented: Isthmus serves xDS over streams only.
type xdsService struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	clusterservice.UnimplementedClusterDiscoveryServiceServer
	endpointservice.UnimplementedEndpointDiscoveryServiceServer
	listenerservice.UnimplementedListenerDiscoveryServiceServer
	routeservice.UnimplementedRouteDiscoveryServiceServer
	secretservice.UnimplementedSecretDiscoveryServiceServer
	s *Server
}

// streamIO is an xDS stream as gRPC hands it over, sending responses of
// type Resp. Requests are read with RecvMsg into the stream's own request
// types (sotwRequest, deltaRequest), which the codec fills.
type streamIO[Resp any] interface {
	Context() context.Context
	Send(Resp) error
	RecvMsg(m any) error
}

// sotwIO and deltaIO are the streams of the two protocols.
type (
	sotwIO  = streamIO[*discoveryv3.DiscoveryResponse]
	deltaIO = streamIO[*discoveryv3.DeltaDiscoveryResponse]
)

func (x xdsService) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	return x.s.serveSotw(st, "")
}

func (x xdsService) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return x.s.serveDelta(st, "")
}

func (x xdsService) StreamClusters(st clusterservice.ClusterDiscoveryService_StreamClustersServer) error {
	return x.s.serveSotw(st, resource.ClusterType)
}

func (x xdsService) DeltaClusters(st clusterservice.ClusterDiscoveryService_DeltaClustersServer) error {
	return x.s.serveDelta(st, resource.ClusterType)
}

func (x xdsService) StreamEndpoints(st endpointservice.EndpointDiscoveryService_StreamEndpointsServer) error {
	return x.s.serveSotw(st, resource.EndpointType)
}

func (x xdsService) DeltaEndpoints(st endpointservice.EndpointDiscoveryService_DeltaEndpointsServer) error {
	return x.s.serveDelta(st, resource.EndpointType)
}

func (x xdsService) StreamListeners(st listenerservice.ListenerDiscoveryService_StreamListenersServer) error {
	return x.s.serveSotw(st, resource.ListenerType)
}

func (x xdsService) DeltaListeners(st listenerservice.ListenerDiscoveryService_DeltaListenersServer) error {
	return x.s.serveDelta(st, resource.ListenerType)
}

func (x xdsService) StreamRoutes(st routeservice.RouteDiscoveryService_StreamRoutesServer) error {
	return x.s.serveSotw(st, resource.RouteType)
}

func (x xdsService) DeltaRoutes(st routeservice.RouteDiscoveryService_DeltaRoutesServer) error {
	return x.s.serveDelta(st, resource.RouteType)
}

func (x xdsService) StreamSecrets(st secretservice.SecretDiscoveryService_StreamSecretsServer) error {
	return x.s.serveSotw(st, resource.SecretType)
}

func (x xdsService) DeltaSecrets(st secretservice.SecretDiscoveryService_DeltaSecretsServer) error {
	return x.s.serveDelta(st, resource.SecretType)
}
