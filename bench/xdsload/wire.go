package xdsload

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
)

// A state-of-the-world request names every resource of its type the
// sidecar subscribes to, and Envoy sends one to acknowledge each response:
// an EDS acknowledgement names 4,000 load assignments in a mesh without
// Sidecar resources. What a sidecar subscribes to changes rarely, so
// each list of names is encoded once (a nameList, shared by every sidecar
// subscribing to the same) and each request written around it, byte for
// byte as proto.Marshal writes it.

// namedRequest is a DiscoveryRequest (req, without resource names) that
// names the resources whose resource_names fields are names.
type namedRequest struct {
	req   *discoveryv3.DiscoveryRequest
	names encodedNames
}

// encodedNames are the resource_names fields of a DiscoveryRequest,
// encoded; "" for none.
type encodedNames string

// encodeNames encodes names as the resource_names of a DiscoveryRequest.
func encodeNames(names []string) encodedNames {
	size := 0
	for _, name := range names {
		size += protowire.SizeTag(requestNamesField) + protowire.SizeBytes(len(name))
	}
	b := make([]byte, 0, size)
	for _, name := range names {
		b = protowire.AppendTag(b, requestNamesField, protowire.BytesType)
		b = protowire.AppendString(b, name)
	}
	return encodedNames(b)
}

// requestNamesField is the field number of a DiscoveryRequest's
// resource_names: version_info (1) and node (2) come before it, type_url
// (4), response_nonce (5) and error_detail (6) after.
const requestNamesField = 3

// marshal writes the request's fields in field number order, as
// proto.Marshal does: version_info and node, the names, then the type,
// nonce and error.
func (r *namedRequest) marshal() (mem.BufferSlice, error) {
	head := &discoveryv3.DiscoveryRequest{VersionInfo: r.req.GetVersionInfo(), Node: r.req.GetNode()}
	tail := &discoveryv3.DiscoveryRequest{TypeUrl: r.req.GetTypeUrl(), ResponseNonce: r.req.GetResponseNonce(), ErrorDetail: r.req.GetErrorDetail()}
	opts := protov2.MarshalOptions{Deterministic: true}
	b, err := opts.MarshalAppend(nil, head)
	if err != nil {
		return nil, err
	}
	b = append(b, r.names...)
	if b, err = opts.MarshalAppend(b, tail); err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Responses are read straight off the wire rather than unmarshalled into
// DiscoveryResponse messages: most resources a proxy receives are byte for
// byte ones the decode cache already holds, so copying each resource's
// bytes and type URL into a google.protobuf.Any only to hash it is waste.
// A rawResponse keeps the received buffer and points into it until
// release.

// xdsCodec is the codec of the simulated sidecars' ADS streams: requests
// are marshalled as usual, responses received into a rawResponse are
// parsed by it.
type xdsCodec struct{}

var protoCodec = encoding.GetCodecV2(proto.Name)

func (xdsCodec) Name() string { return proto.Name }

func (xdsCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*namedRequest); ok {
		return r.marshal()
	}
	return protoCodec.Marshal(v)
}

func (xdsCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*rawResponse)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	return r.parse(data)
}

// rawResponse is a DiscoveryResponse (delta false) or DeltaDiscoveryResponse
// (delta true) as a sidecar reads it. The byte slices of items point into
// the received buffer: they are valid until release.
type rawResponse struct {
	delta   bool
	size    int // encoded size
	version string
	typeURL string
	nonce   string
	items   []resourceItem
	removed []string // delta: removed_resources, then removed_resource_names

	buf mem.Buffer
}

// resourceItem is one resource of a response, with the name the response
// gives it (delta) or none (state of the world).
type resourceItem struct {
	name []byte
	any  rawAny
}

// rawAny is an encoded google.protobuf.Any; present is false when the
// response carried none.
type rawAny struct {
	present bool
	typeURL []byte
	value   []byte
}

// itemLists recycles the item lists of responses: each proxy waits for
// its next response most of the time, holding none.
var itemLists = sync.Pool{New: func() any { return new([]resourceItem) }}

// release returns the buffer and the item list and forgets the response.
func (r *rawResponse) release() {
	if r.buf != nil {
		r.buf.Free()
	}
	if r.items != nil {
		clear(r.items)
		items := r.items[:0]
		itemLists.Put(&items)
	}
	*r = rawResponse{delta: r.delta}
}

func (r *rawResponse) parse(data mem.BufferSlice) error {
	r.release()
	r.items = *itemLists.Get().(*[]resourceItem)
	r.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
	b := r.buf.ReadOnlyData()
	r.size = len(b)
	var err error
	if r.delta {
		err = r.parseDelta(b)
	} else {
		err = r.parseSotW(b)
	}
	if err != nil {
		return fmt.Errorf("parse %s: %w", r.kind(), err)
	}
	return nil
}

func (r *rawResponse) kind() string {
	if r.delta {
		return "DeltaDiscoveryResponse"
	}
	return "DiscoveryResponse"
}

// parseSotW reads a DiscoveryResponse: version_info 1, resources 2,
// type_url 4, nonce 5; other fields are skipped.
func (r *rawResponse) parseSotW(b []byte) error {
	return eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case 1:
			r.version, err = utf8String(v)
		case 2:
			var a rawAny
			a, err = parseAny(v)
			r.items = append(r.items, resourceItem{any: a})
		case 4:
			r.typeURL, err = typeURLString(v)
		case 5:
			r.nonce, err = utf8String(v)
		}
		return err
	})
}

// parseDelta reads a DeltaDiscoveryResponse: system_version_info 1,
// resources 2, type_url 4, nonce 5, removed_resources 6,
// removed_resource_names 8; other fields are skipped.
func (r *rawResponse) parseDelta(b []byte) error {
	var removedNames []string
	err := eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case 1:
			r.version, err = utf8String(v)
		case 2:
			var it resourceItem
			it, err = parseDeltaResource(v)
			r.items = append(r.items, it)
		case 4:
			r.typeURL, err = typeURLString(v)
		case 5:
			r.nonce, err = utf8String(v)
		case 6:
			var name string
			name, err = utf8String(v)
			r.removed = append(r.removed, name)
		case 8:
			var name []byte
			name, err = resourceNameOf(v)
			removedNames = append(removedNames, string(name))
		}
		return err
	})
	r.removed = append(r.removed, removedNames...)
	return err
}

// parseDeltaResource reads a Resource: name 3 (else resource_name 8's
// name), resource 2.
func parseDeltaResource(b []byte) (resourceItem, error) {
	var it resourceItem
	var fromResourceName []byte
	err := eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case 2:
			it.any, err = parseAny(v)
		case 3:
			it.name, err = checkUTF8(v)
		case 8:
			fromResourceName, err = resourceNameOf(v)
		}
		return err
	})
	if len(it.name) == 0 {
		it.name = fromResourceName
	}
	return it, err
}

// resourceNameOf reads the name (1) of a ResourceName.
func resourceNameOf(b []byte) ([]byte, error) {
	var name []byte
	err := eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		if num == 1 {
			name, err = checkUTF8(v)
		}
		return err
	})
	return name, err
}

// parseAny reads a google.protobuf.Any: type_url 1, value 2.
func parseAny(b []byte) (rawAny, error) {
	a := rawAny{present: true}
	err := eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case 1:
			a.typeURL, err = checkUTF8(v)
		case 2:
			a.value = v
		}
		return err
	})
	return a, err
}

// eachField calls f with the number and contents of every
// length-delimited field of the message b, in order; fields of other wire
// types (none of those read here) are skipped, as unmarshalling skips a
// field whose wire type does not match its declaration.
func eachField(b []byte, f func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, v); err != nil {
			return err
		}
	}
	return nil
}

var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

func checkUTF8(v []byte) ([]byte, error) {
	if !utf8.Valid(v) {
		return nil, errInvalidUTF8
	}
	return v, nil
}

func utf8String(v []byte) (string, error) {
	if !utf8.Valid(v) {
		return "", errInvalidUTF8
	}
	return string(v), nil
}

// typeURLString returns the response's type URL, without allocating for
// the types a sidecar subscribes to.
func typeURLString(v []byte) (string, error) {
	for _, t := range allTypes {
		if string(v) == t {
			return t, nil
		}
	}
	return utf8String(v)
}
