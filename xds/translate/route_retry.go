package translate

import (
	"net/http"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	previousprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// Istio's default outbound retry policy: two retries on connection failures,
// refused streams, gRPC unavailable/cancelled and HTTP 503.
const (
	defaultRetryAttempts  = 2
	defaultRetryOn        = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	retriableStatusCodes  = "retriable-status-codes"
	hostSelectionAttempts = 5
)

const (
	previousHostsPredicate    = "envoy.retry_host_predicates.previous_hosts"
	previousPrioritiesName    = "envoy.retry_priorities.previous_priorities"
	previousPrioritiesUpdates = 2
)

// defaultRetryPolicy is Istio's retry policy for routes without one. With
// consistent hashing the retry stays on the same host, so the
// "other host" predicate is left out.
func defaultRetryPolicy(consistentHash bool) *routev3.RetryPolicy {
	policy := &routev3.RetryPolicy{
		NumRetries:                    wrapperspb.UInt32(defaultRetryAttempts),
		RetryOn:                       defaultRetryOn,
		RetriableStatusCodes:          []uint32{http.StatusServiceUnavailable},
		HostSelectionRetryMaxAttempts: hostSelectionAttempts,
	}
	if !consistentHash {
		policy.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{previousHosts()}
	}
	return policy
}

func previousHosts() *routev3.RetryPolicy_RetryHostPredicate {
	return &routev3.RetryPolicy_RetryHostPredicate{
		Name:       previousHostsPredicate,
		ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: typedAny(&previoushostsv3.PreviousHostsPredicate{})},
	}
}

// retryPolicy converts a VirtualService retry block: nil gives the default,
// zero attempts disables retries, anything else overrides the default.
func retryPolicy(in *networking.HTTPRetry, consistentHash bool) *routev3.RetryPolicy {
	out := defaultRetryPolicy(consistentHash)
	if in == nil {
		return out
	}
	if in.GetAttempts() <= 0 {
		return nil
	}
	out.NumRetries = wrapperspb.UInt32(uint32(in.GetAttempts()))
	if in.GetRetryOn() != "" {
		out.RetryOn, out.RetriableStatusCodes = parseRetryOn(in.GetRetryOn())
	}
	if in.GetPerTryTimeout() != nil {
		out.PerTryTimeout = in.GetPerTryTimeout()
	}
	applyRetryHostOptions(out, in)
	if in.GetBackoff() != nil {
		out.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: in.GetBackoff()}
	}
	return out
}

func applyRetryHostOptions(out *routev3.RetryPolicy, in *networking.HTTPRetry) {
	if ignore := in.GetRetryIgnorePreviousHosts(); ignore != nil {
		out.RetryHostPredicate = nil
		if ignore.GetValue() {
			out.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{previousHosts()}
		}
	}
	if in.GetRetryRemoteLocalities().GetValue() {
		out.RetryPriority = &routev3.RetryPolicy_RetryPriority{
			Name: previousPrioritiesName,
			ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: typedAny(
				&previousprioritiesv3.PreviousPrioritiesConfig{UpdateFrequency: previousPrioritiesUpdates})},
		}
	}
}

// parseRetryOn splits Istio's retryOn list into Envoy's retry_on conditions
// and HTTP status codes; codes imply the retriable-status-codes condition.
func parseRetryOn(retryOn string) (string, []uint32) {
	var conditions []string
	var codes []uint32
	for _, part := range strings.Split(retryOn, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if code, err := strconv.Atoi(part); err == nil && http.StatusText(code) != "" {
			codes = append(codes, uint32(code))
			continue
		}
		conditions = append(conditions, part)
	}
	joined := strings.Join(conditions, ",")
	if len(codes) > 0 && !strings.Contains(joined, retriableStatusCodes) {
		joined = strings.Join(append(conditions, retriableStatusCodes), ",")
	}
	return joined, codes
}
