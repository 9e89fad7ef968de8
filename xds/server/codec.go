package server

import (
	"unicode/utf8"
	"unique"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// xdsCodec is the gRPC codec of the xDS server. It writes discovery
// responses (state of the world and delta) without copying their large
// resources: each Any's value is the resource's prepared encoding, shared
// by every response that carries it (see preparedResource), and the codec
// hands gRPC a list of buffers that refers to those bytes, around the
// response's own bytes (its fields, and the small resources, copied: see
// inlineLimit). gRPC's proto codec would copy the whole response into a
// buffer per stream, held until written: in a connect storm or a push, a
// copy of the configuration of every proxy being sent to.
//
// The bytes are those gRPC's proto codec would write, fields in number
// order. A response is written this way only when every field of its
// message types is one the codec knows (codecKnowsResponseFields), its
// repeated message fields have no nil element and its strings are valid
// UTF-8; otherwise, and for every other message (requests) and for
// Unmarshal, gRPC's proto codec does the work. Unmarshal then interns the
// resource names of discovery requests.
//
// The values referred to are read after Send returns, until gRPC has
// written them to the connection: a response's Any values must not be
// modified once sent, which prepared resources never are.
type xdsCodec struct{ proto encoding.CodecV2 }

func newXDSCodec() xdsCodec {
	return xdsCodec{proto: encoding.GetCodecV2(grpcproto.Name)}
}

func (c xdsCodec) Marshal(v any) (mem.BufferSlice, error) {
	if codecKnowsResponseFields {
		switch m := v.(type) {
		case *discoveryv3.DiscoveryResponse:
			if out, ok := encodeResponse(m); ok {
				return out, nil
			}
		case *discoveryv3.DeltaDiscoveryResponse:
			if out, ok := encodeDeltaResponse(m); ok {
				return out, nil
			}
		}
	}
	return c.proto.Marshal(v)
}

// Unmarshal decodes with the proto codec, keeping of a discovery request's
// node metadata only what model.ParseNode reads (see unmarshalLean), or
// none of a node that breaks the limits on nodes (see checkNode), then
// interns the strings of a discovery request that streams keep and that
// recur across proxies (see intern). Streams read into a sotwRequest or a
// deltaRequest, whose many names are compared with known sets before they
// are decoded (see readNamed).
func (c xdsCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch r := v.(type) {
	case *sotwRequest:
		return c.unmarshalSotw(data, r)
	case *deltaRequest:
		return c.unmarshalDelta(data, r)
	}
	if !decodeRequest(data, v) {
		if err := c.proto.Unmarshal(data, v); err != nil {
			return err
		}
	}
	switch m := v.(type) {
	case *discoveryv3.DiscoveryRequest:
		m.TypeUrl = intern(m.TypeUrl)
		m.VersionInfo = intern(m.VersionInfo)
		internAll(m.ResourceNames)
	case *discoveryv3.DeltaDiscoveryRequest:
		m.TypeUrl = intern(m.TypeUrl)
		internAll(m.ResourceNamesSubscribe)
	}
	return nil
}

// decodeRequest decodes a discovery request whose node breaks a limit
// without its node (refuseNode), and one that carries node metadata with
// unmarshalLean; false for any other message, or when it must be decoded
// whole.
func decodeRequest(data mem.BufferSlice, v any) bool {
	var m discoveryRequest
	var nodeField protowire.Number
	switch r := v.(type) {
	case *discoveryv3.DiscoveryRequest:
		m, nodeField = r, requestNodeField
	case *discoveryv3.DeltaDiscoveryRequest:
		m, nodeField = r, deltaRequestNodeField
	default:
		return false
	}
	b := contiguous(data)
	if l := checkNode(b, nodeField); l != nil {
		refuseNode(b, m, l)
		return true
	}
	return unmarshalLean(b, m, nodeField)
}

// contiguous returns data's bytes, copied only when in several buffers.
func contiguous(data mem.BufferSlice) []byte {
	if len(data) == 1 {
		return data[0].ReadOnlyData()
	}
	return data.Materialize()
}

// intern returns the canonical copy of s. Thousands of proxies subscribe
// to the same resource names (the EDS clusters and RDS route
// configurations of their namespace), and the name sets streams subscribe
// to keep the strings requests carried: interned, each name is held once.
func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

func internAll(names []string) {
	for i, name := range names {
		names[i] = intern(name)
	}
}

// Name is the proto codec's: the codec speaks the same content subtype.
func (c xdsCodec) Name() string { return c.proto.Name() }

// inlineLimit is the size under which a value is copied into the
// response's own bytes rather than referred to. A reference costs two
// buffers (the value, and the own bytes before it: about 100 bytes of
// bookkeeping), so sharing a small value saves little memory; and gRPC
// writes a response in HTTP/2 frames of 16 KiB, gathering a frame's buffers
// in a list that it keeps for the next frame only up to 64 buffers and
// reallocates beyond: 512-byte values keep a frame within 64 buffers.
// In a Sidecar-scoped mesh most EDS and CDS resources are copied, and
// listeners and route configurations, about half of the bytes, are shared.
const inlineLimit = 512

// Field numbers written by the codec.
const (
	// DiscoveryResponse (envoy.service.discovery.v3).
	responseVersionInfo    = 1
	responseResources      = 2
	responseCanary         = 3
	responseTypeURL        = 4
	responseNonce          = 5
	responseControlPlane   = 6
	responseResourceErrors = 7
	// DeltaDiscoveryResponse.
	deltaSystemVersionInfo    = 1
	deltaResources            = 2
	deltaTypeURL              = 4
	deltaNonce                = 5
	deltaRemovedResources     = 6
	deltaControlPlane         = 7
	deltaRemovedResourceNames = 8
	deltaResourceErrors       = 9
	// Resource.
	resourceVersion      = 1
	resourceResource     = 2
	resourceName         = 3
	resourceAliases      = 4
	resourceTTL          = 6
	resourceCacheControl = 7
	resourceResourceName = 8
	resourceMetadata     = 9
	// google.protobuf.Any.
	anyTypeURL = 1
	anyValue   = 2
)

// codecKnowsResponseFields says the messages the codec writes have exactly
// the fields it writes; a new field (a go-control-plane upgrade) turns the
// codec into gRPC's proto codec rather than have it drop the field.
var codecKnowsResponseFields = hasExactlyFields(&discoveryv3.DiscoveryResponse{},
	responseVersionInfo, responseResources, responseCanary, responseTypeURL, responseNonce,
	responseControlPlane, responseResourceErrors) &&
	hasExactlyFields(&discoveryv3.DeltaDiscoveryResponse{},
		deltaSystemVersionInfo, deltaResources, deltaTypeURL, deltaNonce, deltaRemovedResources,
		deltaControlPlane, deltaRemovedResourceNames, deltaResourceErrors) &&
	hasExactlyFields(&discoveryv3.Resource{},
		resourceVersion, resourceResource, resourceName, resourceAliases, resourceTTL,
		resourceCacheControl, resourceResourceName, resourceMetadata) &&
	hasExactlyFields(&anypb.Any{}, anyTypeURL, anyValue)

func hasExactlyFields(m proto.Message, numbers ...protowire.Number) bool {
	fields := m.ProtoReflect().Descriptor().Fields()
	if fields.Len() != len(numbers) {
		return false
	}
	for _, n := range numbers {
		if fields.ByNumber(n) == nil {
			return false
		}
	}
	return true
}

// encodeResponse writes a state-of-the-world response; false when it must
// be left to the proto codec.
func encodeResponse(m *discoveryv3.DiscoveryResponse) (mem.BufferSlice, bool) {
	size := sharingEncoder{measuring: true}
	whole := wholeOf(m.Resources)
	size.response(m, whole)
	if size.failed {
		return nil, false
	}
	e := size.writer()
	e.response(m, whole)
	return e.finish()
}

// encodeDeltaResponse writes a delta response; false when it must be left
// to the proto codec.
func encodeDeltaResponse(m *discoveryv3.DeltaDiscoveryResponse) (mem.BufferSlice, bool) {
	size := sharingEncoder{measuring: true}
	var prepared []*aroundValue
	whole := wholeOf(m.Resources)
	if whole == nil {
		prepared = preparedEncodings(m.Resources)
	}
	size.deltaResponse(m, prepared, whole)
	if size.failed {
		return nil, false
	}
	e := size.writer()
	e.deltaResponse(m, prepared, whole)
	return e.finish()
}

// sharingEncoder writes a message as a list of buffers: the bytes it
// encodes itself go to one array, cut into chunks around the shared values
// it refers to. A message is written twice: a first encoder, measuring,
// finds the size of that array and the number of buffers, and checks what
// the proto codec would refuse; the encoder it returns (writer) writes.
type sharingEncoder struct {
	measuring bool
	own       int  // measuring: the size of the encoder's own bytes
	buffers   int  // measuring: at most the number of buffers
	failed    bool // something the encoder does not write as the proto codec would
	// validUTF8 is the last string found valid: responses repeat their
	// type URL in every Any.
	validUTF8 string

	out  mem.BufferSlice
	buf  []byte // the encoder's own bytes; never grows past its capacity
	mark int    // start of the bytes of buf not yet in out
	// pooled, when buf is taken from gRPC's buffer pool (as the proto codec
	// does for all but small messages), holds it: out then refers to it
	// through slices of pooled, and gRPC returns it to the pool once it has
	// written them all.
	pooled mem.Buffer
}

// writer returns an encoder that writes what e measured.
func (e *sharingEncoder) writer() sharingEncoder {
	w := sharingEncoder{out: make(mem.BufferSlice, 0, e.buffers+1)}
	if mem.IsBelowBufferPoolingThreshold(e.own) {
		w.buf = make([]byte, 0, e.own)
		return w
	}
	pool := mem.DefaultBufferPool()
	b := pool.Get(e.own)
	w.buf = (*b)[:0:e.own]
	w.pooled = mem.NewBuffer(b, pool)
	return w
}

// finish returns the encoding, or false when the message must be left to
// the proto codec.
func (e *sharingEncoder) finish() (mem.BufferSlice, bool) {
	if !e.failed {
		e.cut()
	}
	if e.pooled != nil {
		e.pooled.Free() // the slices in out hold it now
	}
	if e.failed {
		e.out.Free()
		return nil, false
	}
	return e.out, true
}

// response writes m; whole is the encoding of its resources when they
// have one (see whole.go).
func (e *sharingEncoder) response(m *discoveryv3.DiscoveryResponse, whole []byte) {
	e.string(responseVersionInfo, m.VersionInfo)
	if whole != nil {
		e.share(whole)
	} else {
		e.resources(m.Resources)
	}
	if m.Canary {
		e.tag(responseCanary, protowire.VarintType)
		e.varint(1)
	}
	e.string(responseTypeURL, m.TypeUrl)
	e.string(responseNonce, m.Nonce)
	e.message(responseControlPlane, m.ControlPlane)
	for _, re := range m.ResourceErrors {
		e.repeatedMessage(responseResourceErrors, re)
	}
	e.unknown(m)
}

// resources writes a state-of-the-world response's resources.
func (e *sharingEncoder) resources(list []*anypb.Any) {
	for _, a := range list {
		if a == nil {
			e.failed = true
			return
		}
		e.tagLen(responseResources, anySize(a))
		e.anyBody(a)
	}
}

// deltaResponse writes m; whole is the encoding of its resources when they
// have one (see whole.go), else prepared holds the prepared encoding of
// each of them that has one (see preparedEncodings).
func (e *sharingEncoder) deltaResponse(m *discoveryv3.DeltaDiscoveryResponse, prepared []*aroundValue, whole []byte) {
	e.string(deltaSystemVersionInfo, m.SystemVersionInfo)
	if whole != nil {
		e.share(whole)
	} else {
		e.deltaResources(m.Resources, prepared)
	}
	e.string(deltaTypeURL, m.TypeUrl)
	e.string(deltaNonce, m.Nonce)
	for _, name := range m.RemovedResources {
		e.repeatedString(deltaRemovedResources, name)
	}
	e.message(deltaControlPlane, m.ControlPlane)
	for _, rn := range m.RemovedResourceNames {
		e.repeatedMessage(deltaRemovedResourceNames, rn)
	}
	for _, re := range m.ResourceErrors {
		e.repeatedMessage(deltaResourceErrors, re)
	}
	e.unknown(m)
}

// deltaResources writes a delta response's resources.
func (e *sharingEncoder) deltaResources(list []*discoveryv3.Resource, prepared []*aroundValue) {
	for i, r := range list {
		switch {
		case r == nil:
			e.failed = true
			return
		case prepared[i] != nil:
			e.prepared(prepared[i])
		default:
			e.resource(r)
		}
	}
}

// resource writes one resource of a delta response.
func (e *sharingEncoder) resource(r *discoveryv3.Resource) {
	size := stringSize(r.Version) + stringSize(r.Name) +
		messageSize(r.Ttl) + messageSize(r.CacheControl) + messageSize(r.ResourceName) + messageSize(r.Metadata) +
		len(r.ProtoReflect().GetUnknown())
	if r.Resource != nil {
		size += lenFieldSize(anySize(r.Resource))
	}
	for _, alias := range r.Aliases {
		size += lenFieldSize(len(alias))
	}
	e.tagLen(deltaResources, size)
	e.string(resourceVersion, r.Version)
	if r.Resource != nil {
		e.tagLen(resourceResource, anySize(r.Resource))
		e.anyBody(r.Resource)
	}
	e.string(resourceName, r.Name)
	for _, alias := range r.Aliases {
		e.repeatedString(resourceAliases, alias)
	}
	e.message(resourceTTL, r.Ttl)
	e.message(resourceCacheControl, r.CacheControl)
	e.message(resourceResourceName, r.ResourceName)
	e.message(resourceMetadata, r.Metadata)
	e.unknown(r)
}

// anyBody writes a's fields, its value shared.
func (e *sharingEncoder) anyBody(a *anypb.Any) {
	e.string(anyTypeURL, a.TypeUrl)
	if len(a.Value) > 0 {
		e.tagLen(anyValue, len(a.Value))
		e.share(a.Value)
	}
	e.unknown(a)
}

// share writes b by reference, or copies it when small.
func (e *sharingEncoder) share(b []byte) {
	switch {
	case len(b) < inlineLimit:
		e.raw(b)
	case e.measuring:
		e.buffers += 2 // the own bytes before b, and b
	default:
		e.cut()
		e.out = append(e.out, mem.SliceBuffer(b))
	}
}

// cut ends the current chunk of the encoder's own bytes. A chunk's
// capacity ends with it, so that later appends never write into it.
func (e *sharingEncoder) cut() {
	if len(e.buf) == e.mark {
		return
	}
	if e.pooled != nil {
		if len(e.buf) > e.pooled.Len() { // mismeasured: buf left the pooled array
			e.failed = true
			return
		}
		e.out = append(e.out, e.pooled.Slice(e.mark, len(e.buf)))
	} else {
		e.out = append(e.out, mem.SliceBuffer(e.buf[e.mark:len(e.buf):len(e.buf)]))
	}
	e.mark = len(e.buf)
}

// string writes a singular string field, omitted when empty as in proto3.
func (e *sharingEncoder) string(num protowire.Number, s string) {
	if s != "" {
		e.repeatedString(num, s)
	}
}

// repeatedString writes one element of a repeated string field, which is
// written even when empty.
func (e *sharingEncoder) repeatedString(num protowire.Number, s string) {
	if e.measuring {
		e.checkUTF8(s)
	}
	e.tagLen(num, len(s))
	e.rawString(s)
}

// checkUTF8 fails the encoding on a string the proto codec would refuse.
func (e *sharingEncoder) checkUTF8(s string) {
	if s == e.validUTF8 {
		return
	}
	if !utf8.ValidString(s) {
		e.failed = true
		return
	}
	e.validUTF8 = s
}

// repeatedMessage writes one element of a repeated message field; a nil
// element is left to the proto codec.
func (e *sharingEncoder) repeatedMessage(num protowire.Number, m proto.Message) {
	if !m.ProtoReflect().IsValid() {
		e.failed = true
		return
	}
	e.message(num, m)
}

// message writes a message field with the proto codec's encoding (the
// codec shares no bytes in these); nil is omitted. Invalid content (a
// string that is not UTF-8) fails the writing encoder.
func (e *sharingEncoder) message(num protowire.Number, m proto.Message) {
	if !m.ProtoReflect().IsValid() {
		return
	}
	size := proto.Size(m)
	e.tagLen(num, size)
	if e.measuring {
		e.own += size
		return
	}
	var err error
	e.buf, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(e.buf, m)
	if err != nil {
		e.failed = true
	}
}

// unknown writes the unknown fields of m, as the proto codec does, last.
func (e *sharingEncoder) unknown(m proto.Message) {
	e.raw(m.ProtoReflect().GetUnknown())
}

func (e *sharingEncoder) tagLen(num protowire.Number, size int) {
	e.tag(num, protowire.BytesType)
	e.varint(uint64(size))
}

func (e *sharingEncoder) tag(num protowire.Number, typ protowire.Type) {
	if e.measuring {
		e.own += protowire.SizeTag(num)
		return
	}
	e.buf = protowire.AppendTag(e.buf, num, typ)
}

func (e *sharingEncoder) varint(v uint64) {
	if e.measuring {
		e.own += protowire.SizeVarint(v)
		return
	}
	e.buf = protowire.AppendVarint(e.buf, v)
}

func (e *sharingEncoder) raw(b []byte) {
	if e.measuring {
		e.own += len(b)
		return
	}
	e.buf = append(e.buf, b...)
}

func (e *sharingEncoder) rawString(s string) {
	if e.measuring {
		e.own += len(s)
		return
	}
	e.buf = append(e.buf, s...)
}

// anySize is the size of a's encoding.
func anySize(a *anypb.Any) int {
	return stringSize(a.TypeUrl) + bytesSize(len(a.Value)) + len(a.ProtoReflect().GetUnknown())
}

// stringSize is the size of a singular string field, none when empty.
func stringSize(s string) int { return bytesSize(len(s)) }

// bytesSize is stringSize for n bytes.
func bytesSize(n int) int {
	if n == 0 {
		return 0
	}
	return lenFieldSize(n)
}

// lenFieldSize is the size of a length-delimited field of n bytes. Every
// field number the codec writes takes one byte of tag.
func lenFieldSize(n int) int {
	return 1 + protowire.SizeBytes(n)
}

// messageSize is the size of a message field; none when nil.
func messageSize(m proto.Message) int {
	if !m.ProtoReflect().IsValid() {
		return 0
	}
	return lenFieldSize(proto.Size(m))
}
