package translate

import (
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// corsConfig converts a CORS policy into the cors filter's per-route
// configuration.
func corsConfig(in *networking.CorsPolicy) *corsv3.CorsPolicy {
	if in == nil {
		return nil
	}
	out := &corsv3.CorsPolicy{
		AllowOriginStringMatch:       allowOrigins(in),
		AllowMethods:                 strings.Join(in.GetAllowMethods(), ","),
		AllowHeaders:                 strings.Join(in.GetAllowHeaders(), ","),
		ExposeHeaders:                strings.Join(in.GetExposeHeaders(), ","),
		AllowCredentials:             in.GetAllowCredentials(),
		FilterEnabled:                &corev3.RuntimeFractionalPercent{DefaultValue: hundredths(100)},
		ForwardNotMatchingPreflights: wrapperspb.Bool(in.GetUnmatchedPreflights() != networking.CorsPolicy_IGNORE),
	}
	if in.GetMaxAge() != nil {
		out.MaxAge = strconv.FormatInt(in.GetMaxAge().GetSeconds(), 10)
	}
	return out
}

// allowOrigins prefers allowOrigins matches; the deprecated allowOrigin list
// is read as exact origins.
func allowOrigins(in *networking.CorsPolicy) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	if len(in.GetAllowOrigins()) > 0 {
		for _, sm := range in.GetAllowOrigins() {
			if m := stringMatcher(sm); m != nil {
				out = append(out, m)
			}
		}
		return out
	}
	for _, origin := range in.GetAllowOrigin() { //nolint:staticcheck // deprecated field still honoured
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: origin}})
	}
	return out
}
