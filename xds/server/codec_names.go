package server

import (
	"bytes"
	"errors"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A state-of-the-world request names every resource of its type the proxy
// subscribes to, and Envoy sends one to acknowledge every response: in a
// mesh of 1,000 services without Sidecar resources, each sidecar
// acknowledges each EDS response with the same 4,000 names (240 KB).
// Decoding them into strings and interning them was most of what an
// endpoint change cost over state of the world. So the codec compares the
// names of such a request, still encoded, with the set its stream
// subscribes to, else with the interned set of the same names (another
// stream's: how a first request finds its set), and decodes them only
// when no set has exactly those names (sotwRequest, deltaRequest).

// encodedNamesFrom is how many names a request must carry to be compared
// encoded: fewer are decoded with the rest of the request.
const encodedNamesFrom = 16

var (
	requestNamesField   = fieldNumber(&discoveryv3.DiscoveryRequest{}, "resource_names")
	deltaSubscribeField = fieldNumber(&discoveryv3.DeltaDiscoveryRequest{}, "resource_names_subscribe")
)

// sotwRequest is a state-of-the-world request as a stream reads it (see
// xdsCodec.Unmarshal). When same is set, req carries no resource names:
// they are exactly same's.
type sotwRequest struct {
	req  *discoveryv3.DiscoveryRequest
	same *nameSet
	// known finds the set of exactly names, encoded, when the stream
	// subscribes to it of typeURL or another stream does (nil when none
	// is known). Set by the stream before reading; safe to call while the
	// stream handles an earlier request.
	known func(typeURL string, names encodedNames) *nameSet
	// subscribed are the sets the stream subscribes to, one per type (nil
	// before its first request of the type): an acknowledgement names one
	// again, encoded as the set remembers (see readRepeated).
	subscribed []*atomic.Pointer[nameSet]
}

// resourceNames are the names the request subscribes to, interned.
func (r *sotwRequest) resourceNames() []string {
	if r.same == nil {
		return r.req.GetResourceNames()
	}
	return r.same.list()
}

// deltaRequest is a delta request as a stream reads it (see
// xdsCodec.Unmarshal). When subscribed is set, req carries no names to
// subscribe to: they are exactly subscribed's. A stream's first request
// names everything it subscribes to, and in a mesh without Sidecar
// resources every sidecar's first EDS request names the same 4,000.
type deltaRequest struct {
	req        *discoveryv3.DeltaDiscoveryRequest
	subscribed *nameSet
	// known finds the set of exactly names, encoded (nil when none is
	// known). Safe for concurrent use.
	known func(names encodedNames) *nameSet
}

// subscribe are the names the request subscribes to, interned.
func (r *deltaRequest) subscribe() []string {
	if r.subscribed == nil {
		return r.req.GetResourceNamesSubscribe()
	}
	return r.subscribed.list()
}

// encodedNames is a request's resource_names fields as they came: tag,
// length and name each, one after the other.
type encodedNames []byte

// all yields each name.
func (e encodedNames) all() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for b := e; len(b) > 0; {
			_, _, n := protowire.ConsumeTag(b)
			name, m := protowire.ConsumeBytes(b[n:])
			if !yield(name) {
				return
			}
			b = b[n+m:]
		}
	}
}

var errNameNotUTF8 = errors.New("resource name is not valid UTF-8")

// decode returns the names, interned; an error when one is not UTF-8 (as
// the proto codec would report it).
func (e encodedNames) decode() ([]string, error) {
	var out []string
	for name := range e.all() {
		if !utf8.Valid(name) {
			return nil, errNameNotUTF8
		}
		out = append(out, intern(string(name)))
	}
	return out, nil
}

// unmarshalSotw decodes a state-of-the-world request into r (see
// readNamed), its names compared with the set the stream subscribes to of
// its type, else any set.
func (c xdsCodec) unmarshalSotw(data mem.BufferSlice, r *sotwRequest) error {
	r.req = &discoveryv3.DiscoveryRequest{}
	if same := c.readRepeated(data, r.req, requestNamesField, r.subscribed); same != nil {
		r.same = same
		return nil
	}
	same, names, err := c.readNamed(data, r.req, requestNamesField, func(names encodedNames) *nameSet {
		return r.known(r.req.GetTypeUrl(), names)
	})
	if err != nil {
		return err
	}
	r.same = same
	if names != nil {
		r.req.ResourceNames = names
	}
	return nil
}

// unmarshalDelta decodes a delta request into r (see readNamed), the
// names it subscribes to compared with every stream's sets.
func (c xdsCodec) unmarshalDelta(data mem.BufferSlice, r *deltaRequest) error {
	r.req = &discoveryv3.DeltaDiscoveryRequest{}
	same, names, err := c.readNamed(data, r.req, deltaSubscribeField, r.known)
	if err != nil {
		return err
	}
	r.subscribed = same
	if names != nil {
		r.req.ResourceNamesSubscribe = names
	}
	return nil
}

// readNamed decodes the request in data into m, but for its names in
// field when there are many of them, one after the other (as every
// encoder writes a repeated field): those are given, encoded, to match
// (after m is decoded), and the set it returns, of exactly those names, is
// returned instead; when it returns none, they are returned decoded. A
// request with few names, or names otherwise laid out, is decoded whole,
// as Unmarshal decodes it, returning neither.
func (c xdsCodec) readNamed(data mem.BufferSlice, m proto.Message, field protowire.Number, match func(encodedNames) *nameSet) (*nameSet, []string, error) {
	b, done := readable(data)
	defer done()
	start, end, ok := encodedNamesSpan(b, field)
	if !ok {
		return nil, nil, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, m)
	}
	rest := append(b[:start:start], b[end:]...)
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(rest)}, m); err != nil {
		return nil, nil, err
	}
	names := encodedNames(b[start:end])
	if same := match(names); same != nil {
		return same, nil, nil
	}
	decoded, err := names.decode()
	return nil, decoded, err
}

// requestBuffers are what requests in several buffers are copied into
// (see readable). gRPC's pool clears a buffer each time it is taken: a
// 1 MiB one for each 240 KB request.
var requestBuffers sync.Pool

// readable returns data's bytes, in one slice: data's own buffer, or a
// pooled copy of data's buffers; done returns the copy to the pool.
func readable(data mem.BufferSlice) (b []byte, done func()) {
	if len(data) == 1 {
		return data[0].ReadOnlyData(), func() {}
	}
	n := data.Len()
	p, _ := requestBuffers.Get().(*[]byte)
	if p == nil || cap(*p) < n {
		p = &[]byte{}
		*p = make([]byte, n)
	}
	buf := (*p)[:n]
	data.CopyTo(buf)
	return buf, func() { requestBuffers.Put(p) }
}

// encodedNamesSpan finds, in the encoded request b, its names in field:
// [start, end) holds at least encodedNamesFrom of them and every such
// field of b. False when b has fewer, or they are not one after the
// other (each with field's one-byte tag), or b is not well formed.
func encodedNamesSpan(b []byte, field protowire.Number) (start, end int, ok bool) {
	if protowire.SizeTag(field) != 1 {
		return 0, 0, false
	}
	if start = fieldStart(b, field); start < 0 || start == len(b) {
		return 0, 0, false
	}
	// Walked without decoding each tag: 4,000 of them in an EDS
	// acknowledgement.
	end, count := bytesRun(b, start, byte(protowire.EncodeTag(field, protowire.BytesType)))
	if end < 0 || count < encodedNamesFrom || fieldStart(b[end:], field) != len(b)-end {
		return 0, 0, false
	}
	return start, end, true
}

// bytesRun walks the length-delimited fields of one-byte tag from pos, one
// after the other: it returns where the first other field starts and how
// many it walked; end is -1 when one is not well formed.
func bytesRun(b []byte, pos int, tag byte) (end, count int) {
	for pos < len(b) && b[pos] == tag {
		pos++
		var size uint64
		if pos < len(b) && b[pos] < 0x80 {
			size = uint64(b[pos])
			pos++
		} else {
			v, n := protowire.ConsumeVarint(b[pos:])
			if n < 0 {
				return -1, 0
			}
			size, pos = v, pos+n
		}
		if size > uint64(len(b)-pos) {
			return -1, 0
		}
		pos += int(size)
		count++
	}
	return pos, count
}

// readRepeated reads the request in data into m when its names in field
// are, byte for byte, the encoding one of sets remembers (an
// acknowledgement naming again what its stream subscribes to), and
// returns that set: the names are neither walked nor copied out of gRPC's
// buffers, only compared. It returns nil, m reset, when no set's encoding
// is there, or the request is laid out otherwise (the names not the first
// buffer's, more names after them); readNamed then reads it.
func (c xdsCodec) readRepeated(data mem.BufferSlice, m proto.Message, field protowire.Number, sets []*atomic.Pointer[nameSet]) *nameSet {
	if len(data) == 0 || len(sets) == 0 {
		return nil
	}
	first := data[0].ReadOnlyData()
	start := fieldStart(first, field)
	if start < 0 || start == len(first) {
		return nil
	}
	total := data.Len()
	for _, p := range sets {
		set := p.Load()
		if set == nil {
			continue
		}
		enc := set.encoding.Load()
		if enc == nil || len(*enc) == 0 || !encodedAt(data, start, *enc) {
			continue
		}
		rest := appendRange(slices.Clip(first[:start]), data, start+len(*enc), total)
		err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(rest)}, m)
		if err == nil && !m.ProtoReflect().Has(m.ProtoReflect().Descriptor().Fields().ByNumber(field)) {
			return set
		}
		proto.Reset(m)
		return nil
	}
	return nil
}

// fieldStart is where, in b, the first field numbered field starts:
// len(b) when b has none, -1 when b is not well formed before it.
func fieldStart(b []byte, field protowire.Number) int {
	pos := 0
	for pos < len(b) {
		num, typ, tagLen := protowire.ConsumeTag(b[pos:])
		if tagLen < 0 {
			return -1
		}
		if num == field {
			return pos
		}
		valueLen := protowire.ConsumeFieldValue(num, typ, b[pos+tagLen:])
		if valueLen < 0 {
			return -1
		}
		pos += tagLen + valueLen
	}
	return pos
}

// encodedAt reports whether data's bytes from off are want, and what
// follows them (if anything) is not another field of want's one-byte tag.
func encodedAt(data mem.BufferSlice, off int, want []byte) bool {
	tag := want[0]
	for _, buf := range data {
		b := buf.ReadOnlyData()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		b, off = b[off:], 0
		if len(want) == 0 {
			return b[0] != tag
		}
		n := min(len(b), len(want))
		if !bytes.Equal(b[:n], want[:n]) {
			return false
		}
		if want = want[n:]; len(want) == 0 && n < len(b) {
			return b[n] != tag
		}
	}
	return len(want) == 0
}

// appendRange appends data's bytes [from, to) to dst.
func appendRange(dst []byte, data mem.BufferSlice, from, to int) []byte {
	for _, buf := range data {
		b := buf.ReadOnlyData()
		if from >= len(b) {
			from, to = from-len(b), to-len(b)
			continue
		}
		end := min(to, len(b))
		dst = append(dst, b[from:end]...)
		if to <= len(b) {
			return dst
		}
		from, to = 0, to-len(b)
	}
	return dst
}
