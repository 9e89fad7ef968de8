package server

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// A stream's first request carries the node, and istio-proxy's node
// metadata is a Struct of some thirty fields, labels and annotations
// nested in it: decoding it all is most of the cost of decoding requests
// in a connect storm, and the stream needs only the few fields
// model.ParseNode reads (the server drops the metadata after that). So the
// codec decodes a request with node metadata in two parts: the request
// without the metadata, by the proto codec, and of the metadata only the
// fields ParseNode reads, each value by the proto codec. Anything it does
// not find well formed is left to the proto codec whole, which then
// reports the error it would have reported anyway.

// Field numbers read by the lean request decoder, from the descriptors.
var (
	requestNodeField      = fieldNumber(&discoveryv3.DiscoveryRequest{}, "node")
	deltaRequestNodeField = fieldNumber(&discoveryv3.DeltaDiscoveryRequest{}, "node")
	nodeMetadataField     = fieldNumber(&corev3.Node{}, "metadata")
	structFieldsField     = fieldNumber(&structpb.Struct{}, "fields")
)

// Fields of a map entry, as the protobuf encoding defines them.
const (
	mapEntryKey   protowire.Number = 1
	mapEntryValue protowire.Number = 2
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// discoveryRequest is either kind of discovery request.
type discoveryRequest interface {
	proto.Message
	GetNode() *corev3.Node
}

// unmarshalLean decodes b into m (a discovery request whose node is field
// nodeField), keeping of the node's metadata only the fields ParseNode
// reads. False when b has no node metadata or is not well formed: the
// caller then decodes b whole.
func unmarshalLean(b []byte, m discoveryRequest, nodeField protowire.Number) bool {
	node, ok := singleField(b, nodeField)
	if !ok {
		return false
	}
	nodeValue := b[node.valueStart:node.end]
	metadata, ok := singleField(nodeValue, nodeMetadataField)
	if !ok {
		return false
	}
	fields, ok := readMetadataFields(nodeValue[metadata.valueStart:metadata.end])
	if !ok {
		return false
	}
	trimmed := withoutSpan(b, node, metadata)
	if err := proto.Unmarshal(trimmed, m); err != nil || m.GetNode() == nil {
		return false
	}
	m.GetNode().Metadata = &structpb.Struct{Fields: fields}
	return true
}

// fieldSpan locates one length-delimited field in an encoded message:
// [start, end) is the whole field (tag, length and value) and its value
// begins at valueStart, all offsets into that message.
type fieldSpan struct {
	start, valueStart, end int
}

// singleField finds field num, length-delimited and present exactly once,
// in the encoded message b (whose fields must all be well formed).
func singleField(b []byte, num protowire.Number) (fieldSpan, bool) {
	var found fieldSpan
	seen := false
	for pos := 0; pos < len(b); {
		n, typ, tagLen := protowire.ConsumeTag(b[pos:])
		if tagLen < 0 {
			return fieldSpan{}, false
		}
		valueLen := protowire.ConsumeFieldValue(n, typ, b[pos+tagLen:])
		if valueLen < 0 {
			return fieldSpan{}, false
		}
		if n == num {
			if seen || typ != protowire.BytesType {
				return fieldSpan{}, false
			}
			_, prefix := protowire.ConsumeVarint(b[pos+tagLen:])
			found, seen = fieldSpan{start: pos, valueStart: pos + tagLen + prefix, end: pos + tagLen + valueLen}, true
		}
		pos += tagLen + valueLen
	}
	return found, seen
}

// withoutSpan re-encodes the message b with the field inner removed from
// the value of its field outer (inner's offsets are into that value).
func withoutSpan(b []byte, outer, inner fieldSpan) []byte {
	value := b[outer.valueStart:outer.end]
	num, _, _ := protowire.ConsumeTag(b[outer.start:])
	out := make([]byte, 0, len(b))
	out = append(out, b[:outer.start]...)
	out = protowire.AppendTag(out, num, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(len(value)-(inner.end-inner.start)))
	out = append(out, value[:inner.start]...)
	out = append(out, value[inner.end:]...)
	return append(out, b[outer.end:]...)
}

// readMetadataFields decodes, of the encoded Struct b, the fields
// ParseNode reads.
func readMetadataFields(b []byte) (map[string]*structpb.Value, bool) {
	fields := map[string]*structpb.Value{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		if num != structFieldsField || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, false
			}
			b = b[n:]
			continue
		}
		entry, n := protowire.ConsumeBytes(b)
		if n < 0 || !readMetadataEntry(entry, fields) {
			return nil, false
		}
		b = b[n:]
	}
	return fields, true
}

// readMetadataEntry decodes one map entry of a Struct into fields when
// ParseNode reads its key. A later entry of the same key wins, as in the
// proto codec.
func readMetadataEntry(entry []byte, fields map[string]*structpb.Value) bool {
	var key string
	var value []byte
	for len(entry) > 0 {
		num, typ, n := protowire.ConsumeTag(entry)
		if n < 0 {
			return false
		}
		entry = entry[n:]
		switch {
		case num == mapEntryKey && typ == protowire.BytesType:
			k, n := protowire.ConsumeBytes(entry)
			if n < 0 {
				return false
			}
			key, entry = string(k), entry[n:]
		case num == mapEntryValue && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(entry)
			if n < 0 {
				return false
			}
			value, entry = v, entry[n:]
		default:
			if n = protowire.ConsumeFieldValue(num, typ, entry); n < 0 {
				return false
			}
			entry = entry[n:]
		}
	}
	if !model.ReadsMetadataField(key) {
		return true
	}
	v := &structpb.Value{}
	if err := proto.Unmarshal(value, v); err != nil {
		return false
	}
	fields[key] = v
	return true
}
