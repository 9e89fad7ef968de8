package server

import (
	"fmt"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits on the node a discovery request carries. istio-proxy's node is a
// few KiB: an id of typically under 100 bytes and at most about 500
// (Kubernetes bounds its parts: a pod name of at most 253 bytes, a
// namespace of 63, an IP address, and the DNS domain), some thirty
// metadata values, the largest of which (ANNOTATIONS,
// PROXY_CONFIG, LABELS) are a KiB or two. The limits leave a wide margin
// over that, and keep a node that no istio-proxy sends from costing the
// server more than a few hundred KiB while it is decoded, or anything once
// refused: the codec checks them on the encoded request, before decoding
// any of the node, and a request that breaks one ends its stream with
// InvalidArgument.
const (
	// MaxNodeIDBytes bounds the node id.
	MaxNodeIDBytes = 1 << 10
	// MaxNodeMetadataValueBytes bounds each entry of the node metadata
	// (its key and encoded value): a pod's labels, its annotations, its
	// proxy configuration. Kubernetes lets a pod's annotations reach
	// 256 KiB; a pod whose annotations are over 64 KiB is refused.
	MaxNodeMetadataValueBytes = 64 << 10
	// MaxNodeBytes bounds the whole encoded node.
	MaxNodeBytes = 256 << 10
)

// maxRequestBytes is the largest request the gRPC server reads, istiod's
// and gRPC's default: a state-of-the-world request names every resource
// of its type the proxy subscribes to (the EDS clusters of a large mesh
// without Sidecar scoping fit), and its node is bounded by MaxNodeBytes.
const maxRequestBytes = 4 << 20

// nodeLimit is one of the limits a request's node must keep.
type nodeLimit struct {
	// reason is the "reason" label of isthmus_xds_rejected_nodes_total.
	reason string
	what   string
	max    int
	// marker is the node the codec puts in a request whose node breaks
	// the limit, in place of the node, which it does not decode. It is
	// shared by every such request and must never be modified; the server
	// recognises it by identity (refusedNodeLimit).
	marker *corev3.Node
}

// The limits of a node, and the reason of the other refusals counted
// with them.
var (
	nodeIDLimit            = &nodeLimit{reason: "id_too_long", what: "node id", max: MaxNodeIDBytes, marker: &corev3.Node{}}
	nodeMetadataValueLimit = &nodeLimit{reason: "metadata_value_too_large", what: "node metadata entry", max: MaxNodeMetadataValueBytes, marker: &corev3.Node{}}
	nodeSizeLimit          = &nodeLimit{reason: "node_too_large", what: "node", max: MaxNodeBytes, marker: &corev3.Node{}}
	nodeLimits             = []*nodeLimit{nodeIDLimit, nodeMetadataValueLimit, nodeSizeLimit}
)

// reasonInvalidNode is the reason of a refused node whose id does not
// parse (model.ParseNode), or a first request without a node.
const reasonInvalidNode = "invalid"

// refusal is the message a stream refused for l ends with.
func (l *nodeLimit) refusal() string {
	return fmt.Sprintf("isthmus: %s larger than %d bytes", l.what, l.max)
}

// refusedNodeLimit returns the limit node breaks, when node is a marker
// the codec put in place of a refused node; nil otherwise.
func refusedNodeLimit(node *corev3.Node) *nodeLimit {
	for _, l := range nodeLimits {
		if node == l.marker {
			return l
		}
	}
	return nil
}

// Field numbers the node limits are checked on, from the descriptors.
var nodeIDField = fieldNumber(&corev3.Node{}, "id")

// checkNode returns the first limit the node of the encoded request b
// (field nodeField) breaks, or nil. A node that appears several times is
// merged by the proto codec: each part is checked, and their total size.
// b not well formed is left to the decoder, which reports it: nil.
func checkNode(b []byte, nodeField protowire.Number) *nodeLimit {
	total := 0
	var broken *nodeLimit
	eachField(b, func(num protowire.Number, value []byte) bool {
		if num != nodeField {
			return true
		}
		total += len(value)
		broken = checkNodeParts(value)
		if broken == nil && total > MaxNodeBytes {
			broken = nodeSizeLimit
		}
		return broken == nil
	})
	return broken
}

// checkNodeParts checks the id and metadata of an encoded node.
func checkNodeParts(node []byte) *nodeLimit {
	var broken *nodeLimit
	eachField(node, func(num protowire.Number, value []byte) bool {
		switch {
		case num == nodeIDField && len(value) > MaxNodeIDBytes:
			broken = nodeIDLimit
		case num == nodeMetadataField:
			broken = checkMetadata(value)
		}
		return broken == nil
	})
	return broken
}

// checkMetadata checks each entry of an encoded Struct.
func checkMetadata(md []byte) *nodeLimit {
	var broken *nodeLimit
	eachField(md, func(num protowire.Number, entry []byte) bool {
		if num == structFieldsField && len(entry) > MaxNodeMetadataValueBytes {
			broken = nodeMetadataValueLimit
		}
		return broken == nil
	})
	return broken
}

// eachField calls f with the number and value of each length-delimited
// field of the encoded message b, in order, until f returns false. It
// stops at the first field that is not well formed.
func eachField(b []byte, f func(num protowire.Number, value []byte) bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return
			}
			b = b[n:]
			continue
		}
		value, n := protowire.ConsumeBytes(b)
		if n < 0 || !f(num, value) {
			return
		}
		b = b[n:]
	}
}

// refuseNode decodes into m (a discovery request) of the encoded request
// b only its type URL, and l's marker as its node, so that the server
// ends the stream with the reason, on the same path as other requests.
func refuseNode(b []byte, m proto.Message, l *nodeLimit) {
	proto.Reset(m)
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	typeURL := fields.ByName("type_url")
	eachField(b, func(num protowire.Number, value []byte) bool {
		if num == typeURL.Number() && utf8.Valid(value) {
			r.Set(typeURL, protoreflect.ValueOfString(string(value)))
		}
		return true
	})
	r.Set(fields.ByName("node"), protoreflect.ValueOfMessage(l.marker.ProtoReflect()))
}
