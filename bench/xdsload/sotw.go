package xdsload

import (
	"context"
	"fmt"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// sotwStream is one state-of-the-world ADS stream of one proxy.
type sotwStream struct {
	p        *Proxy
	stream   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	nodeSent bool
	version  map[string]string // last accepted version_info per type
	nonce    map[string]string // last response nonce per type
	// names are the subscribed names of EDS, RDS and SDS (nil: asked for
	// none), interned.
	names map[string]*nameList
}

// encodedFrom is how many names a request must carry for the stream to
// send them as encoded once (see namedRequest).
const encodedFrom = 16

// runSotW subscribes like Envoy: CDS and LDS wildcard, then EDS, RDS and
// SDS for the names they reference; it returns when the stream ends.
func runSotW(ctx context.Context, p *Proxy) error {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(p.conn).StreamAggregatedResources(ctx, grpc.ForceCodecV2(xdsCodec{}))
	if err != nil {
		return fmt.Errorf("open ADS stream: %w", err)
	}
	s := &sotwStream{p: p, stream: stream, version: map[string]string{}, nonce: map[string]string{}, names: map[string]*nameList{}}
	for _, t := range []string{typeCDS, typeLDS} {
		if err := s.send(t, nil); err != nil {
			return err
		}
	}
	resp := &rawResponse{}
	defer resp.release()
	for {
		if err := stream.RecvMsg(resp); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if err := s.handle(resp); err != nil {
			return err
		}
		resp.release()
	}
}

// send sends a request for typeURL: an ACK when errDetail is nil, else a
// NACK, each carrying the current subscription.
func (s *sotwStream) send(typeURL string, errDetail *statuspb.Status) error {
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl:       typeURL,
		VersionInfo:   s.version[typeURL],
		ResponseNonce: s.nonce[typeURL],
		ErrorDetail:   errDetail,
	}
	if !s.nodeSent {
		req.Node = s.p.node
		s.nodeSent = true
	}
	var msg any = req
	if subscribed := s.names[typeURL]; len(subscribed.list()) >= encodedFrom {
		msg = &namedRequest{req: req, names: subscribed.encoded()}
	} else {
		req.ResourceNames = subscribed.list()
	}
	if err := s.stream.SendMsg(msg); err != nil {
		return fmt.Errorf("send %s request: %w", typeNames[typeURL], err)
	}
	return nil
}

func (s *sotwStream) handle(resp *rawResponse) error {
	t := resp.typeURL
	s.p.received(resp.size)
	s.nonce[t] = resp.nonce
	list, err := s.p.decodeAll(t, resp.items)
	if err != nil {
		s.p.rejected(t, err)
		return s.send(t, &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()})
	}
	s.p.apply(t, func(st *configState) {
		if _, dependent := parents[t]; dependent {
			st.update(t, list, nil)
		} else {
			st.replace(t, list)
		}
	})
	s.version[t] = resp.version
	if err := s.send(t, nil); err != nil {
		return err
	}
	s.p.acked(t, time.Now())
	return s.resubscribe(t)
}

// resubscribe asks for the EDS, RDS or SDS names a CDS or LDS update
// references, when they changed.
func (s *sotwStream) resubscribe(parent string) error {
	for _, dep := range dependents[parent] {
		want := s.p.wantedList(dep)
		held, asked := s.names[dep]
		if asked && held == want {
			continue // the same names: lists are interned
		}
		if !asked && want == nil {
			continue // nothing to ask for yet
		}
		s.names[dep] = want
		if err := s.send(dep, nil); err != nil {
			return err
		}
	}
	return nil
}
