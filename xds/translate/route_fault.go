package translate

import (
	"math"
	"strconv"
	"strings"

	commonfaultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	networking "istio.io/api/networking/v1alpha3"
)

// grpcStatusCodes maps gRPC status names to their codes.
var grpcStatusCodes = map[string]uint32{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3,
	"DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5, "ALREADY_EXISTS": 6,
	"PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
	"ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13,
	"UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

// faultConfig converts fault injection into the fault filter's per-route
// configuration; nil when nothing Envoy supports is asked for (exponential
// delays and HTTP/2 errors are not).
func faultConfig(in *networking.HTTPFaultInjection) *faultv3.HTTPFault {
	if in == nil {
		return nil
	}
	out := &faultv3.HTTPFault{Delay: faultDelay(in.GetDelay()), Abort: faultAbort(in.GetAbort())}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return out
}

func faultDelay(in *networking.HTTPFaultInjection_Delay) *commonfaultv3.FaultDelay {
	fixed := in.GetFixedDelay()
	if fixed == nil {
		return nil
	}
	out := &commonfaultv3.FaultDelay{
		FaultDelaySecifier: &commonfaultv3.FaultDelay_FixedDelay{FixedDelay: fixed},
	}
	if in.GetPercentage() != nil {
		out.Percentage = millionths(in.GetPercentage())
	} else {
		out.Percentage = hundredths(uint32(max(in.GetPercent(), 0))) //nolint:staticcheck // deprecated field still honoured
	}
	return out
}

func faultAbort(in *networking.HTTPFaultInjection_Abort) *faultv3.FaultAbort {
	if in == nil {
		return nil
	}
	out := &faultv3.FaultAbort{}
	switch t := in.GetErrorType().(type) {
	case *networking.HTTPFaultInjection_Abort_HttpStatus:
		out.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(t.HttpStatus)}
	case *networking.HTTPFaultInjection_Abort_GrpcStatus:
		code, ok := grpcStatusCode(t.GrpcStatus)
		if !ok {
			return nil
		}
		out.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: code}
	default:
		return nil
	}
	if in.GetPercentage() != nil {
		out.Percentage = millionths(in.GetPercentage())
	}
	return out
}

// grpcStatusCode accepts a status name ("UNAVAILABLE") or its number.
func grpcStatusCode(s string) (uint32, bool) {
	if code, ok := grpcStatusCodes[strings.ToUpper(s)]; ok {
		return code, true
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil && n <= 16
}

// millionths expresses an Istio percentage (0-100, fractional) with Envoy's
// MILLION denominator, as Istio does.
func millionths(p *networking.Percent) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{
		Numerator:   uint32(math.Round(p.GetValue() * 10000)),
		Denominator: typev3.FractionalPercent_MILLION,
	}
}

func hundredths(n uint32) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_HUNDRED}
}
