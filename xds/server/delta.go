package server

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

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
	return runStream(d, io.Context(), func() (*deltaRequest, error) {
		r := &deltaRequest{known: s.nameSets.knownEncoded}
		return r, io.RecvMsg(r)
	})
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
func (d *deltaStream) handle(r *deltaRequest) error {
	req := r.req
	typeURL, err := d.read(request{req.GetNode(), req.GetTypeUrl(), req.GetResourceNamesSubscribe(), req.GetResponseNonce(), req.GetErrorDetail()})
	if err != nil {
		return err
	}
	if isDebugType(typeURL) {
		return nil // never answered over delta
	}
	d.attach()
	t := d.types[typeURL]
	if t == nil {
		t = newDeltaType(r, d.s.nameSets)
		d.types[typeURL] = t
	} else {
		t.update(r.subscribe(), req.GetResourceNamesUnsubscribe(), d.s.nameSets)
	}
	t.open = true
	return d.answer(typeURL)
}

// answer sends typeURL's response if a request waits for one and the
// proxy's resources owe the stream something (or it is the first answer
// to a wildcard subscription, which Envoy waits for even when empty). A
// proxy being ended (Drain) ends the stream instead.
func (d *deltaStream) answer(typeURL string) error {
	t := d.types[typeURL]
	if t == nil || !t.open {
		return nil
	}
	served, err := d.served()
	if served == nil {
		return err
	}
	resources := served.types[typeURL]
	reconnected := !t.answered && t.own != nil
	send, removed := t.owed(resources)
	if len(send) == 0 && len(removed) == 0 && (t.answered || !t.wildcard) {
		if reconnected {
			d.noteHeld(t, typeURL, resources.versionOrEmpty())
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
