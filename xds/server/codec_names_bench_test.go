package server

import (
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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
	acknowledgement := frames(enc, 16<<10)
	codec := newXDSCodec()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		r := requestSubscribedTo(set)
		if err := codec.Unmarshal(acknowledgement, r); err != nil || r.same != set {
			b.Fatalf("read %v, %v", r.same, err)
		}
	}
}
