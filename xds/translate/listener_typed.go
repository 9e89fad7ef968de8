package translate

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// typedAny wraps a message for a typed_config field, marshalled
// deterministically so equal configuration gives equal bytes. Every message
// passed here is built by this package, so a failure is a programming error.
func typedAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err))
	}
	return a
}
