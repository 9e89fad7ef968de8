package xdsload

import (
	"context"
	"fmt"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// deltaStream is one incremental ADS stream of one proxy.
type deltaStream struct {
	p        *Proxy
	stream   discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	nodeSent bool
	names    map[string][]string // subscribed names of EDS and RDS
}

// runDelta subscribes like Envoy over delta xDS: CDS and LDS wildcard, then
// EDS and RDS names as they become referenced or unreferenced.
func runDelta(ctx context.Context, p *Proxy) error {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(p.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("open delta ADS stream: %w", err)
	}
	s := &deltaStream{p: p, stream: stream, names: map[string][]string{}}
	for _, t := range []string{typeCDS, typeLDS} {
		if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}); err != nil {
			return err
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if err := s.handle(resp); err != nil {
			return err
		}
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

func (s *deltaStream) handle(resp *discoveryv3.DeltaDiscoveryResponse) error {
	t := resp.GetTypeUrl()
	s.p.received(proto.Size(resp))
	list, err := s.p.decodeAll(t, deltaItems(resp))
	if err != nil {
		s.p.rejected(t, err)
		return s.send(&discoveryv3.DeltaDiscoveryRequest{
			TypeUrl:       t,
			ResponseNonce: resp.GetNonce(),
			ErrorDetail:   &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()},
		})
	}
	s.p.apply(func(st *configState) { st.update(t, list, removedNames(resp)) })
	if err := s.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: resp.GetNonce()}); err != nil {
		return err
	}
	s.p.acked(t, time.Now())
	return s.resubscribe(t)
}

// resubscribe subscribes to newly referenced EDS or RDS names and
// unsubscribes from those no longer referenced.
func (s *deltaStream) resubscribe(parent string) error {
	for dep, par := range parentType {
		if par != parent {
			continue
		}
		want := s.p.wanted(dep)
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

func deltaItems(resp *discoveryv3.DeltaDiscoveryResponse) []resourceItem {
	items := make([]resourceItem, 0, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		items = append(items, resourceItem{name: r.GetName(), any: r.GetResource()})
	}
	return items
}

// removedNames joins the response's removed_resources and the newer
// removed_resource_names.
func removedNames(resp *discoveryv3.DeltaDiscoveryResponse) []string {
	out := append([]string(nil), resp.GetRemovedResources()...)
	for _, n := range resp.GetRemovedResourceNames() {
		out = append(out, n.GetName())
	}
	return out
}
