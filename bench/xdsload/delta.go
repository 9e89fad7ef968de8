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

// deltaStream is one incremental ADS stream of one proxy.
type deltaStream struct {
	p        *Proxy
	stream   discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	nodeSent bool
	names    map[string][]string // subscribed names of EDS, RDS and SDS
}

// runDelta subscribes like Envoy over delta xDS: CDS and LDS wildcard, then
// EDS, RDS and SDS names as they become referenced or unreferenced.
func runDelta(ctx context.Context, p *Proxy) error {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(p.conn).DeltaAggregatedResources(ctx, grpc.ForceCodecV2(xdsCodec{}))
	if err != nil {
		return fmt.Errorf("open delta ADS stream: %w", err)
	}
	s := &deltaStream{p: p, stream: stream, names: map[string][]string{}}
	for _, t := range []string{typeCDS, typeLDS} {
		if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}); err != nil {
			return err
		}
	}
	resp := &rawResponse{delta: true}
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

func (s *deltaStream) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	if !s.nodeSent {
		req.Node = s.p.node
		s.nodeSent = true
	}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("send %s delta request: %w", typeNames[req.GetTypeUrl()], err)
	}
	return nil
}

func (s *deltaStream) handle(resp *rawResponse) error {
	t := resp.typeURL
	s.p.received(resp.size)
	list, err := s.p.decodeAll(t, resp.items)
	if err != nil {
		s.p.rejected(t, err)
		return s.send(&discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:       t,
			ResponseNonce: resp.nonce,
			ErrorDetail:   &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()},
		})
	}
	s.p.apply(t, func(st *configState) { st.update(t, list, resp.removed) })
	if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: resp.nonce}); err != nil {
		return err
	}
	s.p.acked(t, time.Now())
	return s.resubscribe(t)
}

// resubscribe subscribes to newly referenced EDS, RDS or SDS names and
// unsubscribes from those no longer referenced.
func (s *deltaStream) resubscribe(parent string) error {
	for _, dep := range dependents[parent] {
		want := s.p.wantedList(dep).list()
		added, removed := diffNames(s.names[dep], want)
		if len(added) == 0 && len(removed) == 0 {
			continue
		}
		s.names[dep] = want
		err := s.send(&discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:                  dep,
			ResourceNamesSubscribe:   added,
			ResourceNamesUnsubscribe: removed,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// diffNames compares two sorted name lists.
func diffNames(old, want []string) (added, removed []string) {
	i, j := 0, 0
	for i < len(old) || j < len(want) {
		switch {
		case j == len(want) || (i < len(old) && old[i] < want[j]):
			removed = append(removed, old[i])
			i++
		case i == len(old) || want[j] < old[i]:
			added = append(added, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}
