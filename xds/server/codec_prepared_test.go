package server

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Prepared delta resources, small, large, empty or unnamed, are written
// from their prepared encoding exactly as the proto codec writes them, the
// large values shared.
func TestCodecWritesPreparedResourcesAsTheProtoCodec(t *testing.T) {
	large := bytes.Repeat([]byte{0x0a, 0x01, 'v'}, 1000)
	prepared := []*discoveryv3.Resource{
		keptPreparedDelta(t, "outbound|9080||reviews.shop.svc.cluster.local", "4f2a09", &anypb.Any{TypeUrl: resource.ClusterType, Value: []byte{0x0a, 0x01, 'c'}}),
		keptPreparedDelta(t, "virtualOutbound", "77", &anypb.Any{TypeUrl: resource.ListenerType, Value: large}),
		keptPreparedDelta(t, "empty", "", &anypb.Any{TypeUrl: resource.ClusterType}),
		keptPreparedDelta(t, "", "1", &anypb.Any{TypeUrl: resource.ClusterType, Value: []byte{8, 1}}),
	}
	for i, enc := range preparedEncodings(prepared) {
		if enc == nil {
			t.Fatalf("resource %q has no prepared encoding", prepared[i].Name)
		}
	}
	other := &discoveryv3.Resource{Name: "built elsewhere", Version: "2", Resource: &anypb.Any{TypeUrl: resource.ClusterType}}
	m := &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: "s1", TypeUrl: resource.ClusterType, Nonce: "9",
		Resources: append(prepared, other), RemovedResources: []string{"gone"}}
	wantSameAsProtoCodec(t, m, &discoveryv3.DeltaDiscoveryResponse{})
	data, err := newXDSCodec().Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !refersTo(data, large) {
		t.Error("the large value was copied")
	}
}

// keptPreparedDelta is the delta Resource of a prepared resource that
// lives until the test ends.
func keptPreparedDelta(t testing.TB, name, version string, a *anypb.Any) *discoveryv3.Resource {
	owner := &preparedResource{name: name, version: version, any: a}
	t.Cleanup(func() { runtime.KeepAlive(owner) })
	return owner.deltaResource()
}

// A prepared encoding lives as long as the prepared resource it belongs
// to: the codec's table does not keep resources no response can carry.
func TestPreparedEncodingIsDroppedWithItsResource(t *testing.T) {
	r := (&preparedResource{name: "short-lived", version: "1", any: &anypb.Any{TypeUrl: resource.ClusterType, Value: []byte{8, 1}}}).deltaResource()
	if _, ok := aroundValues.Load(r); !ok {
		t.Fatal("no prepared encoding was recorded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		if _, ok := aroundValues.Load(r); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the prepared encoding outlived its resource")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkDeltaResponseEncoding compares a delta response of prepared
// resources (written from their prepared encodings) with one of the same
// resources built plainly, shaped as a sidecar's EDS response.
func BenchmarkDeltaResponseEncoding(b *testing.B) {
	sotw := benchResponse(resource.EndpointType, 40, 150)
	prepared := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, Nonce: "42"}
	plain := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, Nonce: "42"}
	for i, a := range sotw.Resources {
		name := "outbound|9080|v" + string(rune('a'+i%26)) + "|reviews.shop.svc.cluster.local"
		prepared.Resources = append(prepared.Resources, keptPreparedDelta(b, name, "4f2a09bc11d2e3f4", a))
		plain.Resources = append(plain.Resources, &discoveryv3.Resource{Name: name, Version: "4f2a09bc11d2e3f4", Resource: a})
	}
	for name, m := range map[string]*discoveryv3.DeltaDiscoveryResponse{"prepared": prepared, "plain": plain} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := newXDSCodec().Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
			}
		})
	}
}

// A type sent whole to a second stream is written from one encoding of all
// its resources, exactly as the proto codec writes the response, in both
// protocols; a part of the type is written resource by resource.
func TestCodecWritesTypesSentWholeAsTheProtoCodec(t *testing.T) {
	large := bytes.Repeat([]byte{0x0a, 0x01, 'v'}, 1000)
	tr := &typeResources{version: "v1"}
	for _, r := range []*preparedResource{
		{name: "a", version: "1", any: &anypb.Any{TypeUrl: resource.ClusterType, Value: []byte{0x0a, 0x01, 'a'}}},
		{name: "b", version: "2", any: &anypb.Any{TypeUrl: resource.ClusterType, Value: large}},
		{name: "c", version: "3", any: &anypb.Any{TypeUrl: resource.ClusterType}},
	} {
		tr.list = append(tr.list, r)
	}
	for range 2 {
		tr.deltaResources()
		tr.anys()
	}
	if wholeOf(tr.deltaResources()) == nil || wholeOf(tr.anys()) == nil {
		t.Fatal("a type sent whole twice has no whole encoding")
	}
	if wholeOf(tr.deltaResources()[:2]) != nil {
		t.Error("a part of a type is written from the whole type's encoding")
	}
	delta := &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: "v1", TypeUrl: resource.ClusterType, Nonce: "3",
		Resources: tr.deltaResources(), RemovedResources: []string{"gone"}}
	wantSameAsProtoCodec(t, delta, &discoveryv3.DeltaDiscoveryResponse{})
	sotw := &discoveryv3.DiscoveryResponse{VersionInfo: "v1", TypeUrl: resource.ClusterType, Nonce: "4", Resources: tr.anys()}
	wantSameAsProtoCodec(t, sotw, &discoveryv3.DiscoveryResponse{})
	part := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: resource.ClusterType, Resources: tr.deltaResources()[1:]}
	wantSameAsProtoCodec(t, part, &discoveryv3.DeltaDiscoveryResponse{})
	data, err := newXDSCodec().Marshal(delta)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 4 {
		t.Errorf("a response of a type sent whole is %d buffers, want its own bytes around one shared encoding", len(data))
	}
	runtime.KeepAlive(tr)
}
