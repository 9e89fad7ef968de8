package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// applyOutlierDetection maps a DestinationRule outlierDetection block onto
// Envoy's, as Istio does: success-rate ejection is off, each consecutive
// error counter is enforced at 100% when non-zero, and the panic threshold
// becomes minHealthPercent (0, which disables panic mode, when unset).
func applyOutlierDetection(d *clusterDraft, od *networking.OutlierDetection) {
	if od == nil {
		return
	}
	out := &clusterv3.OutlierDetection{
		EnforcingSuccessRate: wrapperspb.UInt32(0),
		Interval:             od.GetInterval(),
		BaseEjectionTime:     od.GetBaseEjectionTime(),
	}
	if v := od.GetConsecutive_5XxErrors(); v != nil {
		out.Consecutive_5Xx = wrapperspb.UInt32(v.GetValue())
		out.EnforcingConsecutive_5Xx = enforcing(v.GetValue())
	}
	if v := od.GetConsecutiveGatewayErrors(); v != nil {
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(v.GetValue())
		out.EnforcingConsecutiveGatewayFailure = enforcing(v.GetValue())
	}
	if od.GetMaxEjectionPercent() > 0 {
		out.MaxEjectionPercent = wrapperspb.UInt32(uint32(od.GetMaxEjectionPercent()))
	}
	applyLocalOriginErrors(out, od)
	d.cluster.OutlierDetection = out
	d.commonLbConfig().HealthyPanicThreshold = &typev3.Percent{Value: float64(max(od.GetMinHealthPercent(), 0))}
}

// enforcing is 100% for an active counter and 0% for a disabled one.
func enforcing(count uint32) *wrapperspb.UInt32Value {
	if count > 0 {
		return wrapperspb.UInt32(100)
	}
	return wrapperspb.UInt32(0)
}

// applyLocalOriginErrors counts connection failures apart from HTTP errors
// when splitExternalLocalOriginErrors is set.
func applyLocalOriginErrors(out *clusterv3.OutlierDetection, od *networking.OutlierDetection) {
	if !od.GetSplitExternalLocalOriginErrors() {
		return
	}
	out.SplitExternalLocalOriginErrors = true
	if n := od.GetConsecutiveLocalOriginFailures().GetValue(); n > 0 {
		out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(n)
		out.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(100)
	}
	out.EnforcingLocalOriginSuccessRate = wrapperspb.UInt32(0)
}
