package server

import (
	"sync/atomic"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// BenchmarkSotwAcknowledgement reads an EDS acknowledgement naming 4,000
// load assignments, the set its stream subscribes to, as gRPC hands it
// over: in 16 KiB frames.
func BenchmarkSotwAcknowledgement(b *testing.B) {
	names := clusterNames(4000)
	sets := newNameSets()
	set := sets.update(sets.empty(), names, nil)
	enc, err := proto.Marshal(&discoveryv3.DiscoveryRequest{VersionInfo: "v1", ResourceNames: names, TypeUrl: resource.EndpointType, ResponseNonce: "17"})
	if err != nil {
		b.Fatal(err)
	}
	var frames mem.BufferSlice
	for rest := enc; len(rest) > 0; {
		n := min(len(rest), 16<<10)
		frames = append(frames, mem.SliceBuffer(rest[:n]))
		rest = rest[n:]
	}
	subscribed := &atomic.Pointer[nameSet]{}
	subscribed.Store(set)
	codec := newXDSCodec()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		r := &sotwRequest{known: func(_ string, names encodedNames) *nameSet {
			if set.sameAsEncoded(names) {
				return set
			}
			return nil
		}, subscribed: []*atomic.Pointer[nameSet]{subscribed}}
		if err := codec.Unmarshal(frames, r); err != nil || r.same != set {
			b.Fatalf("read %v, %v", r.same, err)
		}
	}
}
