package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// noTimeout disables a timeout, as Istio does for routes by default.
func noTimeout() *durationpb.Duration { return durationpb.New(0) }

// forwardAction builds the action of a route that forwards to destinations:
// timeouts, rewrites, mirrors, the cluster or weighted clusters, hashing and
// retries. Route-level headers are already on out; destination headers are
// added here.
func (c *routeContext) forwardAction(out *routev3.Route, in *networking.HTTPRoute, ns, authority string) *routev3.RouteAction {
	action := &routev3.RouteAction{}
	setTimeout(action, in.GetTimeout())
	if rw := in.GetRewrite(); rw != nil {
		applyRewrite(action, rw)
		if rw.GetAuthority() != "" {
			authority = rw.GetAuthority()
		}
	}
	if authority != "" {
		action.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: authority}
	}
	action.RequestMirrorPolicies = c.mirrorPolicies(in, ns)
	if len(in.GetRoute()) == 1 {
		c.singleDestination(out, action, in.GetRoute()[0], ns)
	} else {
		c.weightedDestinations(action, in.GetRoute(), ns)
	}
	action.RetryPolicy = retryPolicy(in.GetRetries(), len(action.HashPolicy) > 0)
	return action
}

// setTimeout applies the route timeout (0 disables it) to every request,
// gRPC ones included: a request still unanswered when it expires ends with
// 504, as Istio documents. A gRPC client's own deadline ends its call
// sooner when shorter. Neither max_grpc_timeout (deprecated in Envoy) nor
// max_stream_duration is set: with the latter, Envoy ignores the route
// timeout and ends requests as stream-duration timeouts instead.
func setTimeout(action *routev3.RouteAction, timeout *durationpb.Duration) {
	action.Timeout = noTimeout()
	if timeout != nil {
		action.Timeout = timeout
	}
}

func applyRewrite(action *routev3.RouteAction, rw *networking.HTTPRewrite) {
	if re := rw.GetUriRegexRewrite(); re != nil {
		action.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: re.GetMatch()},
			Substitution: re.GetRewrite(),
		}
		return
	}
	if rw.GetUri() != "" {
		action.PrefixRewrite = rw.GetUri()
	}
}

func (c *routeContext) singleDestination(out *routev3.Route, action *routev3.RouteAction, dst *networking.HTTPRouteDestination, ns string) {
	action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: c.destinationCluster(dst.GetDestination(), ns)}
	action.HashPolicy = c.hashPolicy(dst.GetDestination(), ns)
	if dst.GetHeaders() == nil {
		return
	}
	ops := translateHeaders(dst.GetHeaders())
	out.RequestHeadersToAdd = append(out.RequestHeadersToAdd, ops.RequestAdd...)
	out.RequestHeadersToRemove = append(out.RequestHeadersToRemove, ops.RequestRemove...)
	out.ResponseHeadersToAdd = append(out.ResponseHeadersToAdd, ops.ResponseAdd...)
	out.ResponseHeadersToRemove = append(out.ResponseHeadersToRemove, ops.ResponseRemove...)
	if ops.Authority != "" && action.HostRewriteSpecifier == nil {
		action.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: ops.Authority}
	}
}

// weightedDestinations splits traffic by weight; destinations of weight 0
// receive nothing and are left out.
func (c *routeContext) weightedDestinations(action *routev3.RouteAction, dsts []*networking.HTTPRouteDestination, ns string) {
	var clusters []*routev3.WeightedCluster_ClusterWeight
	for _, dst := range dsts {
		if dst.GetWeight() <= 0 {
			continue
		}
		clusters = append(clusters, c.clusterWeight(dst, ns))
		action.HashPolicy = append(action.HashPolicy, c.hashPolicy(dst.GetDestination(), ns)...)
	}
	if len(clusters) == 0 {
		action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: BlackHoleCluster}
		return
	}
	action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{
		WeightedClusters: &routev3.WeightedCluster{Clusters: clusters},
	}
}

func (c *routeContext) clusterWeight(dst *networking.HTTPRouteDestination, ns string) *routev3.WeightedCluster_ClusterWeight {
	cw := &routev3.WeightedCluster_ClusterWeight{
		Name:   c.destinationCluster(dst.GetDestination(), ns),
		Weight: wrapperspb.UInt32(uint32(dst.GetWeight())),
	}
	if dst.GetHeaders() == nil {
		return cw
	}
	ops := translateHeaders(dst.GetHeaders())
	cw.RequestHeadersToAdd = ops.RequestAdd
	cw.RequestHeadersToRemove = ops.RequestRemove
	cw.ResponseHeadersToAdd = ops.ResponseAdd
	cw.ResponseHeadersToRemove = ops.ResponseRemove
	if ops.Authority != "" {
		cw.HostRewriteSpecifier = &routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: ops.Authority}
	}
	return cw
}

// mirrorPolicies gives the deprecated single mirror followed by the mirrors
// list. Envoy sends mirrored requests with "-shadow" appended to the host.
func (c *routeContext) mirrorPolicies(in *networking.HTTPRoute, ns string) []*routev3.RouteAction_RequestMirrorPolicy {
	var out []*routev3.RouteAction_RequestMirrorPolicy
	if in.GetMirror() != nil {
		if pct := mirrorFraction(in); pct != nil {
			out = append(out, c.mirrorPolicy(in.GetMirror(), ns, pct))
		}
	}
	for _, m := range in.GetMirrors() {
		if m.GetDestination() == nil {
			continue
		}
		if pct := mirrorPolicyFraction(m); pct != nil {
			out = append(out, c.mirrorPolicy(m.GetDestination(), ns, pct))
		}
	}
	return out
}

func (c *routeContext) mirrorPolicy(d *networking.Destination, ns string, pct *corev3.RuntimeFractionalPercent) *routev3.RouteAction_RequestMirrorPolicy {
	return &routev3.RouteAction_RequestMirrorPolicy{
		Cluster:         c.destinationCluster(d, ns),
		RuntimeFraction: pct,
		TraceSampled:    wrapperspb.Bool(false),
	}
}

// mirrorFraction is the share of requests mirrored: mirrorPercentage, else
// the deprecated mirrorPercent, else all; nil when explicitly zero.
func mirrorFraction(in *networking.HTTPRoute) *corev3.RuntimeFractionalPercent {
	switch {
	case in.GetMirrorPercentage() != nil:
		return positiveFraction(in.GetMirrorPercentage())
	case in.GetMirrorPercent() != nil: //nolint:staticcheck // deprecated field still honoured
		if v := in.GetMirrorPercent().GetValue(); v > 0 { //nolint:staticcheck // deprecated field still honoured
			return &corev3.RuntimeFractionalPercent{DefaultValue: hundredths(v)}
		}
		return nil
	}
	return &corev3.RuntimeFractionalPercent{DefaultValue: hundredths(100)}
}

func mirrorPolicyFraction(m *networking.HTTPMirrorPolicy) *corev3.RuntimeFractionalPercent {
	if m.GetPercentage() != nil {
		return positiveFraction(m.GetPercentage())
	}
	return &corev3.RuntimeFractionalPercent{DefaultValue: hundredths(100)}
}

func positiveFraction(p *networking.Percent) *corev3.RuntimeFractionalPercent {
	if p.GetValue() <= 0 {
		return nil
	}
	return &corev3.RuntimeFractionalPercent{DefaultValue: millionths(p)}
}
