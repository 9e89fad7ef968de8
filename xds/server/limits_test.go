package server

import (
	"context"
	"runtime"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// idOfLength is a well-formed sidecar node id of n bytes.
func idOfLength(n int) string {
	const prefix, suffix = "sidecar~10.0.0.1~", ".default~default.svc.cluster.local"
	return prefix + strings.Repeat("p", n-len(prefix)-len(suffix)) + suffix
}

// nodeWith is a sidecar node of id whose metadata has the fields of an
// ordinary sidecar and those given.
func nodeWith(t *testing.T, id string, fields map[string]any) *corev3.Node {
	t.Helper()
	all := map[string]any{"NAMESPACE": "default", "SERVICE_ACCOUNT": "app", "LABELS": map[string]any{"app": "app"}}
	for k, v := range fields {
		all[k] = v
	}
	md, err := model.NodeMetadata(all)
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: id, Metadata: md}
}

// kib is a string of n KiB.
func kib(n int) string { return strings.Repeat("k", n<<10) }

// firstResponse opens a stream announcing node and returns the error that
// ended it before any response, or nil once a response arrives.
func firstResponse(t *testing.T, conn *grpc.ClientConn, node *corev3.Node, delta bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	if delta {
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// A node over one of the limits ends its stream with InvalidArgument
// naming the limit, whether or not Isthmus reads the field that breaks
// it; the proxy is never connected, the refusal is counted by reason and
// logged once per reason. A node within the limits, far larger than
// istio-proxy's, is served.
func TestNodesOverTheLimitsAreRefused(t *testing.T) {
	logs := &logBuffer{}
	h := startServerWith(t, Options{Secrets: testSecrets(t), InsecureIdentities: true, Logger: logs.logger()})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	conn := h.dial()
	refused := []struct {
		name  string
		limit *nodeLimit
		node  *corev3.Node
		delta bool
	}{
		{"id", nodeIDLimit, nodeWith(t, idOfLength(MaxNodeIDBytes+1), nil), false},
		{"id over delta", nodeIDLimit, nodeWith(t, idOfLength(1<<20), nil), true},
		{"label", nodeMetadataValueLimit, nodeWith(t, idOfLength(100), map[string]any{"LABELS": map[string]any{"app": kib(65)}}), false},
		{"field Isthmus does not read", nodeMetadataValueLimit, nodeWith(t, idOfLength(100), map[string]any{"ANNOTATIONS": kib(65)}), true},
		{"node", nodeSizeLimit, nodeWith(t, idOfLength(100), map[string]any{"A": kib(60), "B": kib(60), "C": kib(60), "D": kib(60), "E": kib(60)}), false},
	}
	for _, tc := range refused {
		err := firstResponse(t, conn, tc.node, tc.delta)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.limit.refusal()) {
			t.Errorf("%s: stream ended with %v, want InvalidArgument %q", tc.name, err, tc.limit.refusal())
		}
	}
	for _, l := range nodeLimits {
		want := 0.0
		for _, tc := range refused {
			if tc.limit == l {
				want++
			}
		}
		if got := metricValue(t, h.server.metrics.rejectedNodes.WithLabelValues(l.reason)); got != want {
			t.Errorf("%v refusals counted for %s, want %v", got, l.reason, want)
		}
		if lines := logs.lines("reason=" + l.reason); len(lines) != 1 {
			t.Errorf("%d lines logged for %s, want 1:\n%s", len(lines), l.reason, strings.Join(lines, "\n"))
		}
	}

	atLimits := nodeWith(t, idOfLength(MaxNodeIDBytes), map[string]any{
		"LABELS": map[string]any{"app": "app", "big": kib(60)}, "A": kib(60), "B": kib(60), "C": kib(60),
	})
	if err := firstResponse(t, conn, atLimits, false); err != nil {
		t.Fatalf("a node within the limits: %v", err)
	}
	if got := metricValue(t, h.server.metrics.connected); got > 1 {
		t.Errorf("%v proxies connected, want only the one within the limits", got)
	}
}

// The codec does not decode a node over a limit: the request it returns
// carries the limit's marker as its node and only the type URL besides,
// and refusing a 1 MiB node id allocates next to nothing. A node sent in
// two parts, each within the limits, is refused for their total.
func TestCodecRefusesOversizedNodesUndecoded(t *testing.T) {
	huge := nodeWith(t, idOfLength(1<<20), nil)
	cases := map[string]struct {
		request, into proto.Message
		limit         *nodeLimit
	}{
		"sotw": {&discoveryv3.DiscoveryRequest{Node: huge, TypeUrl: resource.ListenerType, ResourceNames: []string{"a"}},
			&discoveryv3.DiscoveryRequest{}, nodeIDLimit},
		"delta": {&discoveryv3.DeltaDiscoveryRequest{Node: huge, TypeUrl: resource.ListenerType, ResourceNamesSubscribe: []string{"a"}},
			&discoveryv3.DeltaDiscoveryRequest{}, nodeIDLimit},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := marshalWith(t, protoCodec(), tc.request)
			decode := func() {
				if err := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, tc.into); err != nil {
					t.Fatal(err)
				}
			}
			if perDecode := allocatedBytes(20, decode); perDecode > 4<<10 {
				t.Errorf("refusing a 1 MiB node id allocated %d bytes, want next to nothing", perDecode)
			}
			got := tc.into.(interface {
				discoveryRequest
				GetTypeUrl() string
			})
			if refusedNodeLimit(got.GetNode()) != tc.limit || got.GetTypeUrl() != resource.ListenerType {
				t.Errorf("decoded node %p and type %q, want the marker of %s and %s", got.GetNode(), got.GetTypeUrl(), tc.limit.reason, resource.ListenerType)
			}
			if rest := without(got, "node", "type_url"); proto.Size(rest) != 0 {
				t.Errorf("decoded more than the type URL: %v", rest)
			}
		})
	}
	t.Run("node in two parts", func(t *testing.T) {
		part := func(key string) []byte {
			return marshalWith(t, protoCodec(), &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Metadata: nodeWith(t, "", map[string]any{
				key + "1": kib(50), key + "2": kib(50), key + "3": kib(50),
			}).Metadata}})
		}
		b := append(part("A"), part("B")...)
		got := &discoveryv3.DiscoveryRequest{}
		if err := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil {
			t.Fatal(err)
		}
		if l := refusedNodeLimit(got.GetNode()); l != nodeSizeLimit {
			t.Errorf("a node of two 150 KiB parts refused for %v, want %s", l, nodeSizeLimit.reason)
		}
	})
}

// without is a copy of m without the fields named.
func without(m proto.Message, names ...string) proto.Message {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	for _, name := range names {
		r.Clear(r.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	return c
}

// allocatedBytes is what f allocates per call, on average over n calls.
func allocatedBytes(n int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(n)
}
