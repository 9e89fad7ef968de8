package server

import (
	"runtime"
	"sync"
	"unicode/utf8"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// A type's resources sent whole (every resource, in order: a connecting
// proxy's CDS and EDS) to many streams are written from one contiguous
// encoding of the response's resources field, made the second time the
// type is sent whole: a response is then its few own bytes and one shared
// buffer, whatever the number of resources, and the codec does no work per
// resource. A type sent whole once (a proxy's own listeners) is not worth
// the copy.

// wholeEncoding is the encoding of a list of resources as a response's
// repeated resources field.
type wholeEncoding struct {
	n     int // resources encoded
	bytes []byte
}

// wholeEncodings maps the first element of a registered list (the array a
// typeResources holds) to its encoding; an entry is dropped once the
// typeResources is collected.
var wholeEncodings sync.Map // unsafe.Pointer → *wholeEncoding

// registerWhole records enc as the encoding of list while owner lives.
func registerWhole[T any](owner *typeResources, list []T, enc []byte) {
	if len(list) == 0 || enc == nil {
		return
	}
	key := unsafe.Pointer(unsafe.SliceData(list))
	wholeEncodings.Store(key, &wholeEncoding{n: len(list), bytes: enc})
	runtime.AddCleanup(owner, func(key unsafe.Pointer) { wholeEncodings.Delete(key) }, key)
}

// wholeOf is the registered encoding of list; nil when it has none.
func wholeOf[T any](list []T) []byte {
	if len(list) == 0 {
		return nil
	}
	enc, ok := wholeEncodings.Load(unsafe.Pointer(unsafe.SliceData(list)))
	if !ok || enc.(*wholeEncoding).n != len(list) {
		return nil
	}
	return enc.(*wholeEncoding).bytes
}

// encodeDeltaWhole is list as a DeltaDiscoveryResponse's resources field;
// nil when a resource has no prepared encoding.
func encodeDeltaWhole(list []*discoveryv3.Resource) []byte {
	encs := preparedEncodings(list)
	size := 0
	for _, enc := range encs {
		if enc == nil {
			return nil
		}
		size += len(enc.head) + len(enc.value) + len(enc.tail)
	}
	out := make([]byte, 0, size)
	for _, enc := range encs {
		out = append(append(append(out, enc.head...), enc.value...), enc.tail...)
	}
	return out
}

// encodeSotwWhole is list as a DiscoveryResponse's resources field; nil
// when an Any holds what the codec would not write as the proto codec.
func encodeSotwWhole(list []*anypb.Any) []byte {
	size := 0
	for _, a := range list {
		if !utf8.ValidString(a.TypeUrl) || len(a.ProtoReflect().GetUnknown()) > 0 {
			return nil
		}
		size += lenFieldSize(anySize(a))
	}
	out := make([]byte, 0, size)
	for _, a := range list {
		out = appendLenField(out, responseResources, anySize(a))
		out = appendString(out, anyTypeURL, a.TypeUrl)
		if len(a.Value) > 0 {
			out = appendLenField(out, anyValue, len(a.Value))
			out = append(out, a.Value...)
		}
	}
	return out
}
