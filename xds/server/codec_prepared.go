package server

import (
	"runtime"
	"sync"
	"unicode/utf8"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// A prepared resource goes into thousands of delta responses as the same
// Resource object (name, version and the shared Any). The codec writes it
// from an encoding made once, when it is prepared, instead of encoding
// the wrapper again for every response: the encoding is split around the
// Any's value, which stays shared.

// aroundValue is a delta Resource's encoding as a field of a
// DeltaDiscoveryResponse, split around its Any's value: head is everything
// before the value (the field's tag and length, the version, the Any's
// tag, length and type URL, the value's tag and length), tail what follows
// it (the name).
type aroundValue struct {
	head, value, tail []byte
}

// aroundValues holds the aroundValue of the delta Resource of every live
// prepared resource; an entry is dropped once the prepared resource that
// owns it is collected (a response still carrying the Resource is then
// encoded as any other).
var aroundValues sync.Map // *discoveryv3.Resource → *aroundValue

// newPreparedDelta returns the delta Resource of the prepared resource
// owner, with its encoding made for the codec while owner lives. The
// Resource and its Any must never be modified.
func newPreparedDelta(owner *preparedResource, name, version string, a *anypb.Any) *discoveryv3.Resource {
	r := &discoveryv3.Resource{Name: name, Version: version, Resource: a}
	enc, ok := encodeAroundValue(r)
	if !ok {
		return r // the codec encodes it as any other
	}
	aroundValues.Store(r, enc)
	runtime.AddCleanup(owner, func(r *discoveryv3.Resource) { aroundValues.Delete(r) }, r)
	return r
}

// preparedEncodings returns, for each of resources, the encoding made by
// newPreparedDelta; nil for a Resource made otherwise (or nil).
func preparedEncodings(resources []*discoveryv3.Resource) []*aroundValue {
	out := make([]*aroundValue, len(resources))
	for i, r := range resources {
		if r == nil {
			continue
		}
		if enc, ok := aroundValues.Load(r); ok {
			out[i] = enc.(*aroundValue)
		}
	}
	return out
}

// encodeAroundValue encodes r (a name, a version and an Any, nothing else)
// as the codec's resource method would; false when r has anything else or
// a string the proto codec would refuse.
func encodeAroundValue(r *discoveryv3.Resource) (*aroundValue, bool) {
	a := r.Resource
	if a == nil || !utf8.ValidString(r.Name) || !utf8.ValidString(r.Version) || !utf8.ValidString(a.TypeUrl) ||
		len(r.ProtoReflect().GetUnknown()) > 0 || len(a.ProtoReflect().GetUnknown()) > 0 {
		return nil, false
	}
	size := stringSize(r.Version) + lenFieldSize(anySize(a)) + stringSize(r.Name)
	var head []byte
	head = appendLenField(head, deltaResources, size)
	head = appendString(head, resourceVersion, r.Version)
	head = appendLenField(head, resourceResource, anySize(a))
	head = appendString(head, anyTypeURL, a.TypeUrl)
	if len(a.Value) > 0 {
		head = appendLenField(head, anyValue, len(a.Value))
	}
	tail := appendString(nil, resourceName, r.Name)
	return &aroundValue{head: head, value: a.Value, tail: tail}, true
}

func appendLenField(b []byte, num protowire.Number, size int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(size))
}

// appendString appends a singular string field, omitted when empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// prepared writes a Resource from its prepared encoding.
func (e *sharingEncoder) prepared(enc *aroundValue) {
	e.raw(enc.head)
	if len(enc.value) > 0 {
		e.share(enc.value)
	}
	e.raw(enc.tail)
}
