package xdsload

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// pieces splits b into buffers of at most n bytes, as gRPC may hand a
// message over.
func pieces(b []byte, n int) mem.BufferSlice {
	var out mem.BufferSlice
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, mem.SliceBuffer(b[:k]))
		b = b[k:]
	}
	return out
}

func itemView(items []resourceItem) [][3]string {
	var out [][3]string
	for _, it := range items {
		out = append(out, [3]string{string(it.name), string(it.any.typeURL), string(it.any.value)})
	}
	return out
}

// A response read off the wire has what proto.Unmarshal finds in it, the
// fields the load generator does not use notwithstanding.
func TestWireReadingMatchesUnmarshalling(t *testing.T) {
	cluster := mustAny(t, (&fakeControlPlane{}).cluster("outbound|8080||a.ns.svc.cluster.local"))
	secret := &anypb.Any{TypeUrl: typeSDS, Value: []byte{1, 2, 3}}
	sotw := &discoveryv3.DiscoveryResponse{
		VersionInfo: "v7", Resources: []*anypb.Any{cluster, secret}, Canary: true, TypeUrl: typeCDS, Nonce: "n1",
		ControlPlane:   &corev3.ControlPlane{Identifier: "cp"},
		ResourceErrors: []*discoveryv3.ResourceError{{ErrorDetail: &statuspb.Status{Message: "x"}}},
	}
	delta := &discoveryv3.DeltaDiscoveryResponse{
		SystemVersionInfo: "s3", TypeUrl: typeEDS, Nonce: "n2",
		Resources: []*discoveryv3.Resource{
			{Name: "a", Version: "1", Resource: cluster, Aliases: []string{"al"}, Ttl: durationpb.New(1), CacheControl: &discoveryv3.Resource_CacheControl{DoNotCache: true}},
			{ResourceName: &discoveryv3.ResourceName{Name: "b"}, Resource: secret},
			{Name: "c"}, // no body
		},
		RemovedResources:     []string{"r1", "r2"},
		RemovedResourceNames: []*discoveryv3.ResourceName{{Name: "r3"}},
		ControlPlane:         &corev3.ControlPlane{Identifier: "cp"},
	}
	for _, size := range []int{1 << 20, 7} {
		b, _ := proto.Marshal(sotw)
		r := &rawResponse{}
		if err := (xdsCodec{}).Unmarshal(pieces(b, size), r); err != nil {
			t.Fatal(err)
		}
		want := [][3]string{{"", typeCDS, string(cluster.Value)}, {"", typeSDS, string(secret.Value)}}
		if r.version != "v7" || r.typeURL != typeCDS || r.nonce != "n1" || r.size != len(b) || !slices.Equal(itemView(r.items), want) {
			t.Errorf("state of the world read as %+v", r)
		}
		r.release()

		b, _ = proto.Marshal(delta)
		r = &rawResponse{delta: true}
		if err := (xdsCodec{}).Unmarshal(pieces(b, size), r); err != nil {
			t.Fatal(err)
		}
		want = [][3]string{{"a", typeCDS, string(cluster.Value)}, {"b", typeSDS, string(secret.Value)}, {"c", "", ""}}
		if r.version != "s3" || r.typeURL != typeEDS || r.nonce != "n2" || r.size != len(b) ||
			!slices.Equal(itemView(r.items), want) || r.items[2].any.present || !slices.Equal(r.removed, []string{"r1", "r2", "r3"}) {
			t.Errorf("delta read as %+v", r)
		}
		r.release()
	}
}

func TestMalformedResponsesAreErrors(t *testing.T) {
	b, _ := proto.Marshal(&discoveryv3.DiscoveryResponse{TypeUrl: typeCDS, Resources: []*anypb.Any{mustAny(t, &corev3.ControlPlane{})}})
	for name, data := range map[string][]byte{
		"truncated":    b[:len(b)-1],
		"invalid utf8": protoWithString(4, "\xff\xfe"),
	} {
		if err := (xdsCodec{}).Unmarshal(pieces(data, 1<<20), &rawResponse{}); err == nil {
			t.Errorf("%s response accepted", name)
		}
	}
}

func protoWithString(field int, s string) []byte {
	return append([]byte{byte(field<<3 | 2), byte(len(s))}, s...)
}

// Other messages go through the ordinary proto codec.
func TestCodecMarshalsRequestsAsUsual(t *testing.T) {
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typeEDS, ResourceNames: []string{"a"}}
	data, err := (xdsCodec{}).Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got := &discoveryv3.DiscoveryRequest{}
	if err := (xdsCodec{}).Unmarshal(data, got); err != nil || !proto.Equal(got, req) {
		t.Errorf("round trip gave %v, %v", got, err)
	}
}

// A request whose names were encoded once is written byte for byte as
// proto.Marshal writes the request that carries them: first requests with
// a node, acknowledgements and rejections alike.
func TestNamedRequestsAreWrittenAsMarshalled(t *testing.T) {
	names := []string{"outbound|80||a.ns.svc.cluster.local", "outbound|80|v1|a.ns.svc.cluster.local", "é"}
	for _, req := range []*discoveryv3.DiscoveryRequest{
		{TypeUrl: typeEDS},
		{TypeUrl: typeEDS, VersionInfo: "v1", ResponseNonce: "7", Node: &corev3.Node{Id: "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local"}},
		{TypeUrl: typeRDS, VersionInfo: "v2", ResponseNonce: "8", ErrorDetail: &statuspb.Status{Code: 3, Message: "rejected"}},
	} {
		data, err := (xdsCodec{}).Marshal(&namedRequest{req: req, names: encodeNames(names)})
		if err != nil {
			t.Fatal(err)
		}
		full := proto.Clone(req).(*discoveryv3.DiscoveryRequest)
		full.ResourceNames = names
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(full)
		if err != nil {
			t.Fatal(err)
		}
		if got := data.Materialize(); !slices.Equal(got, want) {
			t.Errorf("%v: wrote\n%x\nproto.Marshal writes\n%x", full, got, want)
		}
	}
}
