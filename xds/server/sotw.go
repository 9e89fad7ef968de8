package server

import (
	"sync/atomic"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// sotwStream is one state-of-the-world xDS stream: ADS or one type's
// service. What it holds and subscribes to of each type is a deltaType:
// the same shared list and name set as a delta stream's.
type sotwStream struct {
	streamBase
	io    sotwIO
	types map[string]*sotwType
	// subscribed is, for each served type in servedTypes' order, the name
	// set the stream subscribes to, for the requests it reads meanwhile
	// (see sotwRequest.known and sotwRequest.subscribed). Made with the
	// stream and not changed.
	subscribed []*atomic.Pointer[nameSet]
}

// sotwType is a sotwStream's state of one type.
type sotwType struct {
	held  *deltaType
	nonce string // of the last response of the type; "" before
	// rejecting: the last request rejected a response.
	rejecting bool
	// told is the version the stream was last told of the type (or said
	// it holds); a type subscribed to by name is told a new version even
	// when none of its resources changed.
	told string
}

// serveSotw serves a state-of-the-world stream until it ends: requests
// acknowledge responses and name what the stream subscribes to; each type
// is answered, in ADS order, when a request waits and the proxy's
// resources owe it something. A request carrying the nonce of an older
// response than the type's last is ignored, as xDS says.
func (s *Server) serveSotw(io sotwIO, fixedType string) error {
	d, err := s.openSotw(io, fixedType)
	if err != nil {
		return err
	}
	return runStream(d, io.Context(), func() (*sotwRequest, error) {
		r := &sotwRequest{known: d.knownSet, subscribed: d.subscribed}
		return r, io.RecvMsg(r)
	})
}

// knownSet is the set of exactly names: the one the stream subscribes to
// of typeURL (the service's type when empty), else one another stream
// does; nil when there is none.
func (d *sotwStream) knownSet(typeURL string, names encodedNames) *nameSet {
	if typeURL == "" {
		typeURL = d.fixedType
	}
	if set := d.subscribedTo(typeURL); set != nil && set.sameAsEncoded(names) {
		return set
	}
	return d.s.nameSets.knownEncoded(names)
}

// subscribedTo is the set the stream subscribes to of typeURL; nil before
// its first request of the type, or for a type that is not served.
func (d *sotwStream) subscribedTo(typeURL string) *nameSet {
	if published := d.subscription(typeURL); published != nil {
		return published.Load()
	}
	return nil
}

// subscription is where the set the stream subscribes to of typeURL is
// published; nil for a type that is not served.
func (d *sotwStream) subscription(typeURL string) *atomic.Pointer[nameSet] {
	if i := typeOrder(typeURL); i < len(d.subscribed) {
		return d.subscribed[i]
	}
	return nil
}

// openSotw registers a new state-of-the-world stream.
func (s *Server) openSotw(io sotwIO, fixedType string) (*sotwStream, error) {
	b, err := s.openStream(io.Context(), false, fixedType)
	if err != nil {
		return nil, err
	}
	subscribed := make([]*atomic.Pointer[nameSet], len(servedTypes))
	for i := range subscribed {
		subscribed[i] = &atomic.Pointer[nameSet]{}
	}
	return &sotwStream{streamBase: b, io: io, types: map[string]*sotwType{}, subscribed: subscribed}, nil
}

func (d *sotwStream) base() *streamBase { return &d.streamBase }

// handle reads one request: its node, the acknowledgement or rejection it
// carries and the names it subscribes to; then answers its type if owed.
func (d *sotwStream) handle(r *sotwRequest) error {
	req := r.req
	typeURL, err := d.read(request{req.GetNode(), req.GetTypeUrl(), req.GetResourceNames(), req.GetResponseNonce(), req.GetErrorDetail()})
	if err != nil {
		return err
	}
	t := d.types[typeURL]
	if t != nil && t.nonce != "" && req.GetResponseNonce() != t.nonce {
		return nil // stale: a newer response is on its way
	}
	if isDebugType(typeURL) {
		return d.answerDebug(req, typeURL)
	}
	d.attach()
	if t == nil {
		t = &sotwType{held: newSotwHeld(typeURL, r, d.s.nameSets), told: req.GetVersionInfo()}
		d.types[typeURL] = t
	} else if r.same != t.held.names || t.held.wildcard {
		t.held.resubscribe(r.resourceNames(), d.s.nameSets)
	}
	if published := d.subscription(typeURL); published != nil {
		published.Store(t.held.names)
	}
	t.held.open = true
	t.rejecting = req.GetErrorDetail() != nil
	return d.answer(typeURL)
}

// answerDebug answers a debug request at once, unless it acknowledges a
// debug response (it carries that response's version).
func (d *sotwStream) answerDebug(req *discoveryv3.DiscoveryRequest, typeURL string) error {
	if req.GetVersionInfo() != "" {
		return nil
	}
	resp := d.s.debugResponse(req)
	return d.send(typeURL, resp)
}

// answer sends typeURL's response if a request waits for one and the
// proxy's resources owe the stream something. A wildcard type (CDS, LDS)
// is full state: every resource, whenever its list is not the one the
// stream holds. A type subscribed to by name is not: the subscribed
// resources the stream does not hold at their version, or none but the
// new version when only others changed (not while it rejects a
// response). A proxy being ended (Drain) ends the stream instead.
func (d *sotwStream) answer(typeURL string) error {
	t := d.types[typeURL]
	if t == nil || !t.held.open {
		return nil
	}
	served, err := d.served()
	if served == nil {
		return err
	}
	list := served.types[typeURL]
	version := list.versionOrEmpty()
	var resources []*anypb.Any
	reconnected := !t.held.answered && t.told == version && version != ""
	if t.held.wildcard {
		if t.told == version && (t.held.answered || version != "") {
			t.held.base = list // the same content, told or said held
			if reconnected {
				d.noteHeld(t.held, typeURL, version)
			}
			return nil
		}
		resources = list.anys()
		if typeURL == resource.ClusterType {
			changed, _ := t.held.owed(list)
			resendDependents(d.edsHeld(), changed)
		}
	} else {
		if reconnected {
			t.held.base = list // a reconnecting proxy that holds this version
		}
		send, _ := t.held.owed(list)
		if len(send) == 0 && (t.rejecting || t.told == version) {
			if reconnected {
				d.noteHeld(t.held, typeURL, version)
			}
			return nil
		}
		resources = sotwResources(list, send)
	}
	t.held.sent(list)
	t.told = version
	return d.send(typeURL, &discoveryv3.DiscoveryResponse{VersionInfo: version, Resources: resources, TypeUrl: typeURL})
}

// edsHeld is the stream's EDS state; nil before its first EDS request.
func (d *sotwStream) edsHeld() *deltaType {
	if t := d.types[resource.EndpointType]; t != nil {
		return t.held
	}
	return nil
}

// send numbers resp and sends it.
func (d *sotwStream) send(typeURL string, resp *discoveryv3.DiscoveryResponse) error {
	resp.Nonce = d.nextNonce()
	if t := d.types[typeURL]; t != nil {
		t.nonce = resp.Nonce
	}
	d.s.onResponse(d.key, typeURL, sentResponse{resp.Nonce, resp.VersionInfo})
	return d.io.Send(resp)
}

// sotwResources is list, resources of t, as the resources of a response:
// t's own list when it is every resource of t.
func sotwResources(t *typeResources, list []*preparedResource) []*anypb.Any {
	if len(list) > 0 && len(list) == len(t.list) {
		return t.anys()
	}
	return anysOf(list)
}

func anysOf(list []*preparedResource) []*anypb.Any {
	out := make([]*anypb.Any, len(list))
	for i, r := range list {
		out[i] = r.any
	}
	return out
}
