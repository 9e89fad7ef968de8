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
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// xdsService is go-control-plane's server for state of the world, with
// delta xDS served by the Server's own streams (serveDelta).
type xdsService struct {
	serverv3.Server
	s *Server
}

func (x xdsService) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return x.s.serveDelta(st, "")
}

func (x xdsService) DeltaClusters(st clusterservice.ClusterDiscoveryService_DeltaClustersServer) error {
	return x.s.serveDelta(st, resource.ClusterType)
}

func (x xdsService) DeltaEndpoints(st endpointservice.EndpointDiscoveryService_DeltaEndpointsServer) error {
	return x.s.serveDelta(st, resource.EndpointType)
}

func (x xdsService) DeltaListeners(st listenerservice.ListenerDiscoveryService_DeltaListenersServer) error {
	return x.s.serveDelta(st, resource.ListenerType)
}

func (x xdsService) DeltaRoutes(st routeservice.RouteDiscoveryService_DeltaRoutesServer) error {
	return x.s.serveDelta(st, resource.RouteType)
}

func (x xdsService) DeltaSecrets(st secretservice.SecretDiscoveryService_DeltaSecretsServer) error {
	return x.s.serveDelta(st, resource.SecretType)
}

// deltaIO is a delta xDS stream as gRPC hands it over.
type deltaIO interface {
	Context() context.Context
	Send(*discoveryv3.DeltaDiscoveryResponse) error
	Recv() (*discoveryv3.DeltaDiscoveryRequest, error)
}

// deltaStream is one delta xDS stream: ADS or one type's service.
type deltaStream struct {
	streamBase
	io    deltaIO
	types map[string]*deltaType
}

// serveDelta serves a delta stream until it ends: requests update what it
// subscribes to and acknowledge responses; each type is answered, in ADS
// order, when a request waits and the proxy's resources owe it something.
func (s *Server) serveDelta(io deltaIO, fixedType string) error {
	d, err := s.openDelta(io, fixedType)
	if err != nil {
		return err
	}
	return runStream(d, io.Context(), io.Recv)
}

// openDelta registers a new delta stream.
func (s *Server) openDelta(io deltaIO, fixedType string) (*deltaStream, error) {
	b, err := s.openStream(io.Context(), true, fixedType)
	if err != nil {
		return nil, err
	}
	return &deltaStream{streamBase: b, io: io, types: map[string]*deltaType{}}, nil
}

func (d *deltaStream) base() *streamBase { return &d.streamBase }

// handle reads one request: its node (the first names it), the
// acknowledgement or rejection it carries, and its subscriptions; then
// answers its type if the proxy's resources owe it something.
func (d *deltaStream) handle(req *discoveryv3.DeltaDiscoveryRequest) error {
	typeURL, err := d.typeOf(req.GetNode(), req.GetTypeUrl())
	if err != nil {
		return err
	}
	trimErrorDetail(req.ErrorDetail)
	r := request{req.GetNode(), typeURL, req.GetResourceNamesSubscribe(), req.GetResponseNonce(), req.GetErrorDetail()}
	if err := d.s.onRequest(d.key, r); err != nil {
		return err
	}
	if isDebugType(typeURL) {
		return nil // never answered over delta
	}
	d.attach()
	t := d.types[typeURL]
	if t == nil {
		t = newDeltaType(req, d.s.nameSets)
		d.types[typeURL] = t
	} else {
		t.update(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), d.s.nameSets)
	}
	t.open = true
	return d.answer(typeURL)
}

// answerAll answers, in ADS order, each type that waits for a response.
func (d *deltaStream) answerAll() error {
	for _, typeURL := range servedTypes {
		if err := d.answer(typeURL); err != nil {
			return err
		}
	}
	return nil
}

// answer sends typeURL's response if a request waits for one and the
// proxy's resources owe the stream something (or it is the first answer
// to a wildcard subscription, which Envoy waits for even when empty). A
// proxy being ended (Drain) ends the stream instead.
func (d *deltaStream) answer(typeURL string) error {
	t := d.types[typeURL]
	if t == nil || !t.open || d.node == nil {
		return nil
	}
	served, ending := d.node.current()
	if ending {
		return errDrainingStatus
	}
	if served == nil {
		return nil
	}
	resources := served.types[typeURL]
	reconnected := !t.answered && t.own != nil
	send, removed := t.owed(resources)
	if len(send) == 0 && len(removed) == 0 && (t.answered || !t.wildcard) {
		if reconnected && !t.noted {
			t.noted = true // it holds what it is served: acknowledged
			d.s.noteHeld(d.key, typeURL, resources.versionOrEmpty())
		}
		return nil
	}
	resp := &discoveryv3.DeltaDiscoveryResponse{
		SystemVersionInfo: resources.versionOrEmpty(),
		Resources:         deltaResourcesOf(resources, send),
		RemovedResources:  removed,
		TypeUrl:           typeURL,
	}
	if typeURL == resource.ClusterType {
		resendDependents(d.types[resource.EndpointType], send)
	}
	resp.Nonce = d.nextNonce()
	d.s.onResponse(d.key, typeURL, sentResponse{resp.Nonce, resp.SystemVersionInfo})
	t.sent(resources)
	return d.io.Send(resp)
}

// deltaResourcesOf is list, resources of t, as the Resources of a delta
// response: t's own list when it is every resource of t.
func deltaResourcesOf(t *typeResources, list []*preparedResource) []*discoveryv3.Resource {
	if len(list) > 0 && len(list) == len(t.list) {
		return t.deltaResources()
	}
	out := make([]*discoveryv3.Resource, len(list))
	for i, r := range list {
		out[i] = r.deltaResource()
	}
	return out
}
