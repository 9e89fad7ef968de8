package server

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func clusterNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("outbound|9080||svc-%d.ns-%d.svc.cluster.local", i, i%7)
	}
	return out
}

// readSotw reads b as a state-of-the-world stream that subscribes to set
// does, b handed over in frames of frame bytes (all of it in one when 0).
func readSotw(t *testing.T, b []byte, set *nameSet, frame int) (*sotwRequest, error) {
	t.Helper()
	r := requestSubscribedTo(set)
	known := r.known
	r.known = func(typeURL string, names encodedNames) *nameSet {
		if typeURL != resource.EndpointType {
			t.Errorf("asked for the set of %q", typeURL)
		}
		return known(typeURL, names)
	}
	err := newXDSCodec().Unmarshal(frames(b, frame), r)
	return r, err
}

// requestSubscribedTo is a request to be read by a stream that subscribes
// to set (none when nil) and knows no other.
func requestSubscribedTo(set *nameSet) *sotwRequest {
	subscribed := &atomic.Pointer[nameSet]{}
	subscribed.Store(set)
	return &sotwRequest{known: func(_ string, names encodedNames) *nameSet {
		if set != nil && set.sameAsEncoded(names) {
			return set
		}
		return nil
	}, subscribed: []*atomic.Pointer[nameSet]{subscribed}}
}

// frames splits b into buffers of n bytes, as gRPC hands a request over in
// HTTP/2 frames; one buffer when n is 0.
func frames(b []byte, n int) mem.BufferSlice {
	if n <= 0 {
		return mem.BufferSlice{mem.SliceBuffer(b)}
	}
	var out mem.BufferSlice
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, mem.SliceBuffer(b[:k]))
		b = b[k:]
	}
	return out
}

// A state-of-the-world request reads as the proto codec reads it. Its
// many names, when they are the set the stream subscribes to, are not
// decoded: the request says it names that set.
func TestSotwRequestReadsAsTheProtoCodec(t *testing.T) {
	sets := newNameSets()
	for _, n := range []int{0, 1, encodedNamesFrom - 1, encodedNamesFrom, 4000} {
		names := clusterNames(n)
		reversed := slices.Clone(names)
		slices.Reverse(reversed)
		same := sets.update(sets.empty(), reversed, nil)
		other := sets.update(same, []string{"outbound|80||other.svc.cluster.local"}, []string{"x"})
		req := &discoveryv3.DiscoveryRequest{VersionInfo: "7", Node: istioProxyNode(t), ResourceNames: names,
			TypeUrl: resource.EndpointType, ResponseNonce: "12"}
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		for i, subscribed := range []*nameSet{nil, same, other, nil, same, other} {
			// The second time, an acknowledgement naming the same again,
			// split in frames: its names are the encoding the set keeps.
			r, err := readSotw(t, b, subscribed, i/3*100)
			if err != nil {
				t.Fatalf("%d names: %v", n, err)
			}
			if wantSame := subscribed == same && n >= encodedNamesFrom; (r.same == same) != wantSame || (r.same != nil && r.same != same) {
				t.Errorf("%d names, subscribed to %p: read as the set %p, want the set %p: %v", n, subscribed, r.same, same, wantSame)
			}
			if got := r.resourceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(names))) {
				t.Errorf("%d names: read %d names, not the request's", n, len(got))
			}
			got := proto.Clone(r.req).(*discoveryv3.DiscoveryRequest)
			if r.same != nil {
				got.ResourceNames = names // the set's, compared above
			}
			want := proto.Clone(req).(*discoveryv3.DiscoveryRequest)
			want.Node.Metadata = readFields(want.Node.Metadata)
			if !proto.Equal(got, want) {
				t.Errorf("%d names: read\n%v\nwant\n%v", n, got, want)
			}
		}
	}
}

// Names that are not one after the other are decoded with the request;
// a name that is not UTF-8 is an error.
func TestSotwRequestOddNames(t *testing.T) {
	names := clusterNames(2 * encodedNamesFrom)
	sets := newNameSets()
	set := sets.update(sets.empty(), names, nil)
	var b []byte
	for i, name := range names {
		if i == encodedNamesFrom {
			b = protowire.AppendTag(b, 4, protowire.BytesType)
			b = protowire.AppendString(b, resource.EndpointType)
		}
		b = protowire.AppendTag(b, requestNamesField, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	// The first names alone are a set whose encoding is known: the names
	// after the other field are read too.
	first := sets.update(sets.empty(), names[:encodedNamesFrom], nil)
	if !first.sameAsEncoded(encode(names[:encodedNamesFrom]...)) {
		t.Fatal("the first names are not their set")
	}
	for _, subscribed := range []*nameSet{set, first} {
		for _, frame := range []int{0, 50} {
			r, err := readSotw(t, b, subscribed, frame)
			if err != nil {
				t.Fatal(err)
			}
			if r.same != nil || !slices.Equal(r.req.GetResourceNames(), names) || r.req.GetTypeUrl() != resource.EndpointType {
				t.Errorf("names split by another field: read as a set %v, read %d names, type %q", r.same != nil, len(r.req.GetResourceNames()), r.req.GetTypeUrl())
			}
		}
	}

	bad := slices.Clone(names)
	bad[3] = "outbound|9080||\xff.svc.cluster.local"
	b, err := proto.Marshal(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range bad {
		b = protowire.AppendTag(b, requestNamesField, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	if _, err := readSotw(t, b, set, 0); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("a name not UTF-8: %v, want an error", err)
	}
}

// A name set is the same as a list of names when the list names each of
// its names exactly once, in any order.
func TestNameSetSameAs(t *testing.T) {
	sets := newNameSets()
	set := sets.update(sets.empty(), []string{"a", "b", "c"}, nil)
	for _, tc := range []struct {
		names []string
		same  bool
	}{
		{[]string{"a", "b", "c"}, true},
		{[]string{"c", "a", "b"}, true},
		{[]string{"a", "b"}, false},
		{[]string{"a", "b", "c", "d"}, false},
		{[]string{"a", "a", "b"}, false},
		{[]string{"a", "b", "c", "c"}, false},
		{nil, false},
	} {
		if got := set.sameAs(tc.names); got != tc.same {
			t.Errorf("sameAs(%v) = %v", tc.names, got)
		}
		// Twice: the first encoding found the same is remembered.
		for range 2 {
			if got := set.sameAsEncoded(encode(tc.names...)); got != tc.same {
				t.Errorf("sameAsEncoded(%v) = %v", tc.names, got)
			}
		}
	}
}

func encode(names ...string) encodedNames {
	var out encodedNames
	for _, name := range names {
		out = protowire.AppendTag(out, requestNamesField, protowire.BytesType)
		out = protowire.AppendString(out, name)
	}
	return out
}

// A stream's first request finds the set another stream subscribes to
// from the names still encoded, in any order, and no set when a name is
// repeated in place of another or none subscribes to those names.
func TestNameSetsKnownEncoded(t *testing.T) {
	sets := newNameSets()
	set := sets.update(sets.empty(), []string{"a", "b", "c"}, nil)
	for _, tc := range []struct {
		names []string
		want  *nameSet
	}{
		{[]string{"b", "c", "a"}, set},
		{[]string{"a", "b", "c"}, set},
		{[]string{"a", "a", "c"}, nil},
		{[]string{"a", "b"}, nil},
		{[]string{"a", "b", "c", "d"}, nil},
	} {
		if got := sets.knownEncoded(encode(tc.names...)); got != tc.want {
			t.Errorf("knownEncoded(%v) = %p, want %p", tc.names, got, tc.want)
		}
	}
}

// Whatever the bytes, a state-of-the-world request reads as the codec
// reads a DiscoveryRequest: the same error or none, the same request, its
// names the same set (read against a set of names the corpus uses).
func FuzzSotwRequestReadsAsTheCodec(f *testing.F) {
	names := clusterNames(2 * encodedNamesFrom)
	for _, n := range []int{0, 3, encodedNamesFrom, 2 * encodedNamesFrom} {
		b, err := proto.Marshal(&discoveryv3.DiscoveryRequest{VersionInfo: "1", ResourceNames: names[:n], TypeUrl: resource.EndpointType, ResponseNonce: "2"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	sets := newNameSets()
	set := sets.update(sets.empty(), names[:encodedNamesFrom], nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		want := &discoveryv3.DiscoveryRequest{}
		wantErr := newXDSCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, want)
		r := requestSubscribedTo(set)
		frame := 0
		if len(b) > 0 {
			frame = int(b[len(b)-1])
		}
		err := newXDSCodec().Unmarshal(frames(b, frame), r)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, the codec's %v", err, wantErr)
		}
		if err != nil {
			return
		}
		got := proto.Clone(r.req).(*discoveryv3.DiscoveryRequest)
		if r.same != nil {
			if !r.same.sameAs(want.GetResourceNames()) {
				t.Fatalf("read as a set that is not the request's %d names", len(want.GetResourceNames()))
			}
			got.ResourceNames = want.GetResourceNames()
		}
		if !proto.Equal(got, want) {
			t.Fatalf("read\n%v\nthe codec read\n%v", got, want)
		}
	})
}
