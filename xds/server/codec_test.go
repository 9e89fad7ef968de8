package server

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// A go-control-plane upgrade that adds a field to a response turns the
// codec off (see codecKnowsResponseFields); this test says when that
// happens, since the responses are then copied per stream again.
func TestCodecKnowsEveryResponseField(t *testing.T) {
	if !codecKnowsResponseFields {
		t.Fatal("a discovery response message has a field the codec does not write: every response now goes through the proto codec; teach xdsCodec the new field")
	}
}

// Every field the server sets, and every other field of the two response
// messages, comes out of the codec as the proto codec writes it.
func TestCodecWritesResponsesAsTheProtoCodec(t *testing.T) {
	big := bytes.Repeat([]byte{0x0a, 0x03, 'a', 'b', 'c'}, 200) // a valid encoding, shared
	small := []byte{0x0a, 0x01, 'x'}                            // copied inline
	withUnknown := &anypb.Any{TypeUrl: resource.EndpointType, Value: big}
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))

	sotw := map[string]*discoveryv3.DiscoveryResponse{
		"empty": {},
		"as the server sends": {
			VersionInfo: "4f2a", TypeUrl: resource.ClusterType, Nonce: "12",
			Resources: []*anypb.Any{{TypeUrl: resource.ClusterType, Value: big}, {TypeUrl: resource.ClusterType, Value: small}},
		},
		"every field": {
			VersionInfo: "v1", Canary: true, TypeUrl: resource.EndpointType, Nonce: "n",
			Resources:    []*anypb.Any{{TypeUrl: resource.EndpointType}, withUnknown, {Value: big}},
			ControlPlane: &corev3.ControlPlane{Identifier: "isthmus-1"},
			ResourceErrors: []*discoveryv3.ResourceError{{
				ResourceName: &discoveryv3.ResourceName{Name: "outbound|80||a.b"},
				ErrorDetail:  &rpcstatus.Status{Code: 5, Message: "not found"},
			}},
		},
		"empty control plane": {ControlPlane: &corev3.ControlPlane{}, Resources: []*anypb.Any{{}}},
		// Enough small resources to take the copied bytes from gRPC's
		// buffer pool, around a shared one.
		"pooled and shared": {
			VersionInfo: "v2", TypeUrl: resource.EndpointType, Nonce: "7",
			Resources: append(slices.Repeat([]*anypb.Any{{TypeUrl: resource.EndpointType, Value: small}}, 20),
				&anypb.Any{TypeUrl: resource.EndpointType, Value: big}, &anypb.Any{TypeUrl: resource.EndpointType, Value: small}),
		},
	}
	for name, m := range sotw {
		t.Run("sotw/"+name, func(t *testing.T) { wantSameAsProtoCodec(t, m, &discoveryv3.DiscoveryResponse{}) })
	}

	delta := map[string]*discoveryv3.DeltaDiscoveryResponse{
		"empty": {},
		"as the server sends": {
			SystemVersionInfo: "4f2a", TypeUrl: resource.EndpointType, Nonce: "3",
			Resources: []*discoveryv3.Resource{
				{Name: "outbound|80||a.b", Version: "01ab", Resource: &anypb.Any{TypeUrl: resource.EndpointType, Value: big}},
				{Name: "outbound|80||c.d", Version: "02cd", Resource: &anypb.Any{TypeUrl: resource.EndpointType, Value: small}},
			},
			RemovedResources: []string{"gone-1", "gone-2"},
		},
		"every field": {
			SystemVersionInfo: "v1", TypeUrl: resource.ClusterType, Nonce: "n",
			Resources: []*discoveryv3.Resource{
				{
					Name: "a", Version: "1", Resource: withUnknown, Aliases: []string{"a-alias", ""},
					Ttl: durationpb.New(30e9), CacheControl: &discoveryv3.Resource_CacheControl{DoNotCache: true},
					ResourceName: &discoveryv3.ResourceName{Name: "a"},
				},
				{Name: "b"}, // no resource: a removal in the name of a resource
				{},
			},
			RemovedResources:     []string{"", "gone"},
			RemovedResourceNames: []*discoveryv3.ResourceName{{Name: "gone"}},
			ControlPlane:         &corev3.ControlPlane{Identifier: "isthmus-1"},
			ResourceErrors:       []*discoveryv3.ResourceError{{ResourceName: &discoveryv3.ResourceName{Name: "bad"}}},
		},
	}
	for name, m := range delta {
		t.Run("delta/"+name, func(t *testing.T) { wantSameAsProtoCodec(t, m, &discoveryv3.DeltaDiscoveryResponse{}) })
	}
}

// Resource metadata holds maps, which the proto codec writes in no fixed
// order: the encoding decodes to the same message.
func TestCodecWritesResourceMetadata(t *testing.T) {
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"isthmus": {Fields: map[string]*structpb.Value{"a": structpb.NewStringValue("1"), "b": structpb.NewBoolValue(true)}},
	}}
	m := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.ClusterType, Resources: []*discoveryv3.Resource{{Name: "a", Metadata: md}}}
	got := &discoveryv3.DeltaDiscoveryResponse{}
	if err := proto.Unmarshal(marshalWith(t, newXDSCodec(), m), got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, m) {
		t.Errorf("decoded %v, want %v", got, m)
	}
}

// The codec refers to a large resource's bytes rather than copying them.
func TestCodecSharesResourceBytes(t *testing.T) {
	value := bytes.Repeat([]byte{0x0a, 0x01, 'v'}, 1000)
	sotw := &discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{{TypeUrl: resource.ClusterType, Value: value}}}
	delta := &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{{Name: "a", Resource: sotw.Resources[0]}}}
	for _, m := range []proto.Message{sotw, delta} {
		data, err := newXDSCodec().Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !refersTo(data, value) {
			t.Errorf("%T: the resource's bytes were copied", m)
		}
	}
}

func refersTo(data mem.BufferSlice, value []byte) bool {
	for _, b := range data {
		if d := b.ReadOnlyData(); len(d) == len(value) && unsafe.SliceData(d) == unsafe.SliceData(value) {
			return true
		}
	}
	return false
}

// What the codec does not write itself (a nil element, a string that is
// not UTF-8) is left to the proto codec, error included.
func TestCodecLeavesTheUnusualToTheProtoCodec(t *testing.T) {
	for name, m := range map[string]proto.Message{
		"nil resource":       &discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{nil}},
		"nil delta resource": &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{nil}},
		"nil removed name":   &discoveryv3.DeltaDiscoveryResponse{RemovedResourceNames: []*discoveryv3.ResourceName{nil}},
		"nil resource error": &discoveryv3.DiscoveryResponse{ResourceErrors: []*discoveryv3.ResourceError{nil}},
		"invalid version":    &discoveryv3.DiscoveryResponse{VersionInfo: "\xff"},
		"invalid type URL":   &discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{{TypeUrl: "\xc3"}}},
		"invalid removal":    &discoveryv3.DeltaDiscoveryResponse{RemovedResources: []string{"ok", "\xff"}},
		"invalid alias":      &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{{Aliases: []string{"\xff"}}}},
		"invalid in nested":  &discoveryv3.DiscoveryResponse{ControlPlane: &corev3.ControlPlane{Identifier: "\xff"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, gotErr := newXDSCodec().Marshal(m)
			want, wantErr := protoCodec().Marshal(m)
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("error %v, the proto codec's %v", gotErr, wantErr)
			}
			if gotErr == nil && !bytes.Equal(got.Materialize(), want.Materialize()) {
				t.Error("encoding differs from the proto codec's")
			}
		})
	}
}

// Requests, and any message that is not a discovery response, go through
// the proto codec both ways.
func TestCodecPassesOtherMessagesThrough(t *testing.T) {
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl: resource.ClusterType, ResourceNames: []string{"a", "b"}, VersionInfo: "v1",
		Node: &corev3.Node{Id: "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local"},
	}
	codec := newXDSCodec()
	data, err := codec.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got := &discoveryv3.DiscoveryRequest{}
	if err := codec.Unmarshal(data, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, got) {
		t.Errorf("round trip gave %v, want %v", got, req)
	}
	if codec.Name() != grpcproto.Name {
		t.Errorf("codec name %q, want %q", codec.Name(), grpcproto.Name)
	}
}

// Resource names that many streams request are held once: requests
// decoded apart share their names' bytes.
func TestCodecInternsRequestedNames(t *testing.T) {
	codec := newXDSCodec()
	decode := func(m proto.Message, into proto.Message) {
		t.Helper()
		data, err := codec.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := codec.Unmarshal(data, into); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"outbound|9080||reviews.default.svc.cluster.local", "outbound|9080|v1|reviews.default.svc.cluster.local"}
	var sotw [2]*discoveryv3.DiscoveryRequest
	var delta [2]*discoveryv3.DeltaDiscoveryRequest
	for i := range 2 {
		sotw[i], delta[i] = &discoveryv3.DiscoveryRequest{}, &discoveryv3.DeltaDiscoveryRequest{}
		decode(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: "4f2a", ResourceNames: names}, sotw[i])
		decode(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: names}, delta[i])
	}
	same := func(a, b string) bool { return a == b && unsafe.StringData(a) == unsafe.StringData(b) }
	for j := range names {
		if !same(sotw[0].ResourceNames[j], sotw[1].ResourceNames[j]) || !same(sotw[0].ResourceNames[j], delta[1].ResourceNamesSubscribe[j]) {
			t.Errorf("name %q is held once per request", names[j])
		}
	}
	if !same(sotw[0].VersionInfo, sotw[1].VersionInfo) || !same(sotw[0].TypeUrl, delta[1].TypeUrl) {
		t.Error("versions and type URLs are held once per request")
	}
}

// Random responses, with every field, come out as the proto codec writes
// them.
func FuzzCodecWritesResponsesAsTheProtoCodec(f *testing.F) {
	for seed := range uint64(64) {
		f.Add(seed, seed*7919)
	}
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64) {
		g := responseGen{rand.New(rand.NewPCG(seed1, seed2))}
		if g.r.IntN(2) == 0 {
			m := g.sotw()
			wantSameAsProtoCodec(t, m, &discoveryv3.DiscoveryResponse{})
			wantMeasuredExactly(t, func(e *sharingEncoder) { e.response(m, nil) })
		} else {
			m := g.delta()
			wantSameAsProtoCodec(t, m, &discoveryv3.DeltaDiscoveryResponse{})
			wantMeasuredExactly(t, func(e *sharingEncoder) { e.deltaResponse(m, preparedEncodings(m.Resources), nil) })
		}
	})
}

// wantSameAsProtoCodec checks that the codec writes m as the proto codec
// does (byte for byte: m has no map) and that it decodes to m.
func wantSameAsProtoCodec[M proto.Message](t *testing.T, m, into M) {
	t.Helper()
	got, gotErr := newXDSCodec().Marshal(m)
	want, wantErr := protoCodec().Marshal(m)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("error %v, the proto codec's %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	gotBytes := got.Materialize()
	if !bytes.Equal(gotBytes, want.Materialize()) {
		t.Errorf("encoding differs from the proto codec's:\n got %x\nwant %x", gotBytes, want.Materialize())
	}
	got.Free() // as gRPC does once written; pooled bytes go back to the pool
	if err := proto.Unmarshal(gotBytes, into); err != nil {
		t.Fatalf("does not decode as %T: %v", into, err)
	}
	if !proto.Equal(into, m) {
		t.Errorf("decoded %v\nwant %v", into, m)
	}
}

// wantMeasuredExactly checks that the measuring pass of the encoder sizes
// the writing pass: its own bytes are one allocation, and its buffer list
// another.
func wantMeasuredExactly(t *testing.T, write func(*sharingEncoder)) {
	t.Helper()
	size := sharingEncoder{measuring: true}
	write(&size)
	if size.failed {
		return
	}
	e := size.writer()
	write(&e)
	out, ok := e.finish()
	if !ok {
		return // left to the proto codec: a nested string is not UTF-8
	}
	if len(e.buf) != size.own || cap(e.buf) != size.own {
		t.Errorf("own bytes: wrote %d into %d, measured %d", len(e.buf), cap(e.buf), size.own)
	}
	if len(out) > size.buffers+1 || cap(out) != size.buffers+1 {
		t.Errorf("buffers: %d of %d, measured at most %d", len(out), cap(out), size.buffers+1)
	}
}

func protoCodec() encoding.CodecV2 { return encoding.GetCodecV2(grpcproto.Name) }

func marshalWith(t *testing.T, c encoding.CodecV2, m proto.Message) []byte {
	t.Helper()
	data, err := c.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data.Materialize()
}

// responseGen makes random discovery responses, every field set or not at
// random; strings are now and then not UTF-8, which both codecs refuse.
type responseGen struct{ r *rand.Rand }

func (g responseGen) sotw() *discoveryv3.DiscoveryResponse {
	m := &discoveryv3.DiscoveryResponse{
		VersionInfo: g.str(), Canary: g.r.IntN(4) == 0, TypeUrl: g.str(), Nonce: g.str(),
		ControlPlane: g.controlPlane(), ResourceErrors: g.resourceErrors(),
	}
	typeURL := g.str()
	for range g.r.IntN(6) {
		m.Resources = append(m.Resources, g.any(typeURL))
	}
	g.unknown(m)
	return m
}

func (g responseGen) delta() *discoveryv3.DeltaDiscoveryResponse {
	m := &discoveryv3.DeltaDiscoveryResponse{
		SystemVersionInfo: g.str(), TypeUrl: g.str(), Nonce: g.str(),
		ControlPlane: g.controlPlane(), ResourceErrors: g.resourceErrors(),
	}
	typeURL := g.str()
	for range g.r.IntN(6) {
		if g.r.IntN(3) == 0 { // as the server prepares them
			a := g.any(typeURL)
			owner := &preparedResource{name: g.str(), version: g.str(), any: a}
			m.Resources = append(m.Resources, owner.deltaResource())
			continue
		}
		m.Resources = append(m.Resources, g.resource(typeURL))
	}
	for range g.r.IntN(3) {
		m.RemovedResources = append(m.RemovedResources, g.str())
	}
	for range g.r.IntN(3) {
		m.RemovedResourceNames = append(m.RemovedResourceNames, &discoveryv3.ResourceName{Name: g.str()})
	}
	g.unknown(m)
	return m
}

func (g responseGen) resource(typeURL string) *discoveryv3.Resource {
	r := &discoveryv3.Resource{Name: g.str(), Version: g.str()}
	if g.r.IntN(5) > 0 {
		r.Resource = g.any(typeURL)
	}
	for range g.r.IntN(3) {
		r.Aliases = append(r.Aliases, g.str())
	}
	if g.r.IntN(4) == 0 {
		r.Ttl = durationpb.New(time.Duration(g.r.Int64N(1e12)))
	}
	if g.r.IntN(4) == 0 {
		r.CacheControl = &discoveryv3.Resource_CacheControl{DoNotCache: g.r.IntN(2) == 0}
	}
	if g.r.IntN(4) == 0 {
		r.ResourceName = &discoveryv3.ResourceName{Name: g.str()}
	}
	g.unknown(r)
	return r
}

func (g responseGen) any(typeURL string) *anypb.Any {
	sizes := []int{0, 1, 100, inlineLimit - 1, inlineLimit, inlineLimit + 1, 5000, 20000}
	value := make([]byte, sizes[g.r.IntN(len(sizes))])
	for i := range value {
		value[i] = byte(g.r.Uint32())
	}
	a := &anypb.Any{TypeUrl: typeURL, Value: value}
	if g.r.IntN(8) == 0 {
		a.TypeUrl = g.str()
	}
	g.unknown(a)
	return a
}

func (g responseGen) controlPlane() *corev3.ControlPlane {
	if g.r.IntN(3) > 0 {
		return nil
	}
	return &corev3.ControlPlane{Identifier: g.str()}
}

func (g responseGen) resourceErrors() []*discoveryv3.ResourceError {
	var out []*discoveryv3.ResourceError
	for range g.r.IntN(3) {
		out = append(out, &discoveryv3.ResourceError{
			ResourceName: &discoveryv3.ResourceName{Name: g.str()},
			ErrorDetail:  &rpcstatus.Status{Code: g.r.Int32N(17), Message: g.str()},
		})
	}
	return out
}

// unknown gives m an unknown field now and then.
func (g responseGen) unknown(m proto.Message) {
	if g.r.IntN(6) > 0 {
		return
	}
	b := protowire.AppendTag(nil, 1000+protowire.Number(g.r.IntN(100)), protowire.BytesType)
	m.ProtoReflect().SetUnknown(protowire.AppendString(b, g.str()))
}

func (g responseGen) str() string {
	switch g.r.IntN(40) {
	case 0:
		return "\xff"
	case 1, 2:
		return "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	case 3:
		return "é" + strings.Repeat("x", g.r.IntN(200))
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], g.r.Uint64())
	return strings.ToValidUTF8(string(b[:g.r.IntN(9)]), "?")
}

// BenchmarkResponseEncoding compares the codec with gRPC's proto codec on
// responses shaped as a sidecar's: many small EDS resources, and a few
// large listeners.
func BenchmarkResponseEncoding(b *testing.B) {
	shapes := map[string]*discoveryv3.DiscoveryResponse{
		"eds-40x150B": benchResponse(resource.EndpointType, 40, 150),
		"lds-6x4KiB":  benchResponse(resource.ListenerType, 6, 4<<10),
	}
	for name, m := range shapes {
		for codecName, codec := range map[string]encoding.CodecV2{"xds": newXDSCodec(), "proto": protoCodec()} {
			b.Run(name+"/"+codecName, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					data, err := codec.Marshal(m)
					if err != nil {
						b.Fatal(err)
					}
					data.Free()
				}
			})
		}
	}
}

func benchResponse(typeURL string, n, size int) *discoveryv3.DiscoveryResponse {
	m := &discoveryv3.DiscoveryResponse{VersionInfo: "0123456789abcdef", TypeUrl: typeURL, Nonce: "42"}
	for range n {
		m.Resources = append(m.Resources, &anypb.Any{TypeUrl: typeURL, Value: bytes.Repeat([]byte{0x0a, 0x01, 'v'}, size/3)})
	}
	return m
}
