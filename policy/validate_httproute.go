package policy

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

func (c *checker) httpRoute(p string, r *networking.HTTPRoute, inDelegate, boundToGateway bool) {
	if r == nil {
		c.add(p, "http route must not be null")
		return
	}
	c.httpRouteActions(p, r, inDelegate)
	for i, m := range r.GetMatch() {
		c.httpMatch(index(field(p, "match"), i), m, boundToGateway)
	}
	c.headerOperations(field(p, "headers"), r.GetHeaders())
	c.corsPolicy(field(p, "corsPolicy"), r.GetCorsPolicy())
	c.fault(field(p, "fault"), r.GetFault())
	c.mirrors(p, r)
	c.redirect(field(p, "redirect"), r.GetRedirect())
	c.directResponse(field(p, "directResponse"), r.GetDirectResponse())
	c.retries(field(p, "retries"), r.GetRetries())
	c.rewrite(p, r)
	c.httpDestinations(field(p, "route"), r.GetRoute())
	if r.GetTimeout() != nil {
		c.check(field(p, "timeout"), checkDuration(r.GetTimeout()))
	}
}

// httpRouteActions checks that a route does exactly one thing: forward
// (route), redirect, answer directly, or delegate.
func (c *checker) httpRouteActions(p string, r *networking.HTTPRoute, inDelegate bool) {
	if r.GetDelegate() != nil {
		c.delegateAction(p, r, inDelegate)
		return
	}
	actions := 0
	for _, set := range []bool{len(r.GetRoute()) > 0, r.GetRedirect() != nil, r.GetDirectResponse() != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		c.add(p, "an http route needs one of route, redirect or directResponse")
	case actions > 1:
		c.add(p, "an http route can have only one of route, redirect or directResponse")
	}
	if r.GetRoute() == nil && (r.GetRedirect() != nil || r.GetDirectResponse() != nil) {
		if r.GetFault() != nil {
			c.add(field(p, "fault"), "fault cannot be combined with redirect or directResponse")
		}
		if r.GetRewrite() != nil {
			c.add(field(p, "rewrite"), "rewrite cannot be combined with redirect or directResponse")
		}
	}
}

func (c *checker) delegateAction(p string, r *networking.HTTPRoute, inDelegate bool) {
	if inDelegate {
		c.add(field(p, "delegate"), "a delegate VirtualService cannot delegate again")
	}
	if r.GetRedirect() != nil || len(r.GetRoute()) > 0 || r.GetDirectResponse() != nil {
		c.add(field(p, "delegate"), "delegate cannot be combined with route, redirect or directResponse")
	}
	d := r.GetDelegate()
	if d.GetName() == "" {
		c.add(field(p, "delegate.name"), "delegate name is required")
	} else {
		c.check(field(p, "delegate.name"), checkDNS1123Subdomain(d.GetName()))
	}
	if d.GetNamespace() != "" {
		c.check(field(p, "delegate.namespace"), checkDNS1123Label(d.GetNamespace()))
	}
}

func (c *checker) httpMatch(p string, m *networking.HTTPMatchRequest, boundToGateway bool) {
	if m == nil {
		c.add(p, "match must not be null")
		return
	}
	for _, name := range sortedMapKeys(m.GetHeaders()) {
		c.matchHeaderName(mapKey(field(p, "headers"), name), name, boundToGateway)
		c.stringMatch(mapKey(field(p, "headers"), name), m.GetHeaders()[name], false)
	}
	for _, name := range sortedMapKeys(m.GetWithoutHeaders()) {
		c.matchHeaderName(mapKey(field(p, "withoutHeaders"), name), name, boundToGateway)
		if sm := m.GetWithoutHeaders()[name]; sm.GetRegex() != "*" {
			c.stringMatch(mapKey(field(p, "withoutHeaders"), name), sm, false)
		}
	}
	for _, name := range sortedMapKeys(m.GetQueryParams()) {
		c.stringMatch(mapKey(field(p, "queryParams"), name), m.GetQueryParams()[name], false)
	}
	// An empty uri prefix matches everything, as in Envoy.
	c.stringMatch(field(p, "uri"), m.GetUri(), true)
	c.stringMatch(field(p, "scheme"), m.GetScheme(), false)
	c.stringMatch(field(p, "method"), m.GetMethod(), false)
	c.stringMatch(field(p, "authority"), m.GetAuthority(), false)
	if m.GetPort() != 0 {
		c.check(field(p, "port"), checkPort(int64(m.GetPort())))
	}
	c.labels(field(p, "sourceLabels"), m.GetSourceLabels())
	c.gatewayNames(field(p, "gateways"), m.GetGateways())
	if ns := m.GetSourceNamespace(); ns != "" {
		c.check(field(p, "sourceNamespace"), checkDNS1123Label(ns))
	}
}

// matchHeaderName accepts a header name, or a JWT claim
// ("@request.auth.claims.NAME") on gateways only.
func (c *checker) matchHeaderName(p, name string, boundToGateway bool) {
	if strings.HasPrefix(name, "@request.auth.claims") {
		if !boundToGateway {
			c.add(p, "routing on JWT claims is only supported for VirtualServices bound to gateways")
		}
		return
	}
	c.check(p, checkHeaderName(name))
}

// stringMatch checks one exact/prefix/regex matcher. The proto oneof already
// guarantees at most one is set; an empty matcher means "present".
func (c *checker) stringMatch(p string, sm *networking.StringMatch, allowEmptyPrefix bool) {
	switch t := sm.GetMatchType().(type) {
	case *networking.StringMatch_Prefix:
		if t.Prefix == "" && !allowEmptyPrefix {
			c.add(field(p, "prefix"), "prefix must not be empty")
		}
	case *networking.StringMatch_Regex:
		c.check(field(p, "regex"), checkRegex(t.Regex))
	}
}

func (c *checker) headerOperations(p string, h *networking.Headers) {
	if h == nil {
		return
	}
	c.headerOperation(field(p, "request"), h.GetRequest(), true)
	c.headerOperation(field(p, "response"), h.GetResponse(), false)
	authority := 0
	for _, name := range append(sortedMapKeys(h.GetRequest().GetSet()), sortedMapKeys(h.GetRequest().GetAdd())...) {
		if isAuthorityHeader(name) {
			authority++
		}
	}
	if authority > 1 {
		c.add(field(p, "request"), "the authority header can be set only once")
	}
}

func (c *checker) headerOperation(p string, op *networking.Headers_HeaderOperations, request bool) {
	for _, kind := range []struct {
		name   string
		values map[string]string
	}{{"set", op.GetSet()}, {"add", op.GetAdd()}} {
		for _, name := range sortedMapKeys(kind.values) {
			hp := mapKey(field(p, kind.name), name)
			c.check(hp, checkHeaderToWrite(name, request))
			c.check(hp, checkHeaderValue(kind.values[name]))
		}
	}
	for i, name := range op.GetRemove() {
		c.check(index(field(p, "remove"), i), checkHeaderToWrite(name, false))
	}
}

// checkHeaderToWrite rejects pseudo-headers and Host, except that a request
// may set the authority.
func checkHeaderToWrite(name string, allowAuthority bool) error {
	switch {
	case name == "":
		return errors.New("header name must not be empty")
	case allowAuthority && isAuthorityHeader(name):
		return nil
	case strings.HasPrefix(name, ":") || strings.EqualFold(name, "host"):
		return errors.New("pseudo-headers and Host cannot be changed here (use rewrite.authority)")
	}
	return nil
}

func isAuthorityHeader(name string) bool {
	return strings.EqualFold(name, ":authority") || strings.EqualFold(name, "host")
}

func (c *checker) corsPolicy(p string, cors *networking.CorsPolicy) {
	if cors == nil {
		return
	}
	for i, o := range cors.GetAllowOrigins() {
		op := index(field(p, "allowOrigins"), i)
		if o.GetExact() == "" && o.GetPrefix() == "" && o.GetRegex() == "" {
			c.add(op, "an origin matcher needs a non-empty exact, prefix or regex")
		}
		c.stringMatch(op, o, false)
	}
	for i, m := range cors.GetAllowMethods() {
		c.check(index(field(p, "allowMethods"), i), checkHTTPMethod(m))
	}
	for i, h := range cors.GetAllowHeaders() {
		if h != "*" {
			c.check(index(field(p, "allowHeaders"), i), checkHeaderName(h))
		}
	}
	for i, h := range cors.GetExposeHeaders() {
		if h != "*" {
			c.check(index(field(p, "exposeHeaders"), i), checkHeaderName(h))
		}
	}
	if age := cors.GetMaxAge(); age != nil {
		c.check(field(p, "maxAge"), checkDuration(age))
		if age.GetNanos() != 0 {
			c.add(field(p, "maxAge"), "maxAge must be a whole number of seconds")
		}
	}
}

func (c *checker) fault(p string, f *networking.HTTPFaultInjection) {
	if f == nil {
		return
	}
	if f.GetAbort() == nil && f.GetDelay() == nil {
		c.add(p, "fault injection needs an abort, a delay, or both")
	}
	if a := f.GetAbort(); a != nil {
		c.abort(field(p, "abort"), a)
	}
	if d := f.GetDelay(); d != nil {
		c.delay(field(p, "delay"), d)
	}
}

func (c *checker) abort(p string, a *networking.HTTPFaultInjection_Abort) {
	if a.GetPercentage() != nil {
		c.check(field(p, "percentage.value"), checkFractionalPercent(a.GetPercentage().GetValue()))
	}
	switch t := a.GetErrorType().(type) {
	case *networking.HTTPFaultInjection_Abort_HttpStatus:
		if t.HttpStatus < 200 || t.HttpStatus > 599 {
			c.add(field(p, "httpStatus"), "HTTP status %d must be in the range 200..599", t.HttpStatus)
		}
	case *networking.HTTPFaultInjection_Abort_GrpcStatus:
		if !grpcStatuses[t.GrpcStatus] {
			c.add(field(p, "grpcStatus"), "unknown gRPC status %q (use a name such as UNAVAILABLE)", t.GrpcStatus)
		}
	case *networking.HTTPFaultInjection_Abort_Http2Error:
		c.add(field(p, "http2Error"), "HTTP/2 error aborts are not supported")
	default:
		c.add(p, "abort needs httpStatus or grpcStatus")
	}
}

// grpcStatuses are the gRPC status code names.
var grpcStatuses = map[string]bool{
	"OK": true, "CANCELLED": true, "UNKNOWN": true, "INVALID_ARGUMENT": true, "DEADLINE_EXCEEDED": true,
	"NOT_FOUND": true, "ALREADY_EXISTS": true, "PERMISSION_DENIED": true, "RESOURCE_EXHAUSTED": true,
	"FAILED_PRECONDITION": true, "ABORTED": true, "OUT_OF_RANGE": true, "UNIMPLEMENTED": true,
	"INTERNAL": true, "UNAVAILABLE": true, "DATA_LOSS": true, "UNAUTHENTICATED": true,
}

func (c *checker) delay(p string, d *networking.HTTPFaultInjection_Delay) {
	if d.GetPercentage() != nil {
		c.check(field(p, "percentage.value"), checkFractionalPercent(d.GetPercentage().GetValue()))
	}
	//nolint:staticcheck // the deprecated integer percent is still accepted
	c.check(field(p, "percent"), checkPercent(int64(d.GetPercent())))
	switch t := d.GetHttpDelayType().(type) {
	case *networking.HTTPFaultInjection_Delay_FixedDelay:
		c.check(field(p, "fixedDelay"), checkDuration(t.FixedDelay))
	case *networking.HTTPFaultInjection_Delay_ExponentialDelay:
		c.add(field(p, "exponentialDelay"), "exponentialDelay is not supported")
	default:
		c.add(field(p, "fixedDelay"), "a delay needs fixedDelay")
	}
}

func (c *checker) mirrors(p string, r *networking.HTTPRoute) {
	if r.GetMirror() != nil {
		c.destination(field(p, "mirror"), r.GetMirror())
		if len(r.GetMirrors()) > 0 {
			c.add(field(p, "mirrors"), "mirror and mirrors cannot both be set")
		}
	}
	//nolint:staticcheck // the deprecated mirrorPercent is still accepted
	if mp := r.GetMirrorPercent(); mp != nil && mp.GetValue() > 100 {
		c.add(field(p, "mirrorPercent"), "mirrorPercent %d must be at most 100", mp.GetValue())
	}
	if mp := r.GetMirrorPercentage(); mp != nil {
		c.check(field(p, "mirrorPercentage.value"), checkMirrorPercent(mp.GetValue()))
	}
	for i, m := range r.GetMirrors() {
		mp := index(field(p, "mirrors"), i)
		if m.GetDestination() == nil {
			c.add(field(mp, "destination"), "destination is required")
			continue
		}
		c.destination(field(mp, "destination"), m.GetDestination())
		if m.GetPercentage() != nil {
			c.check(field(mp, "percentage.value"), checkMirrorPercent(m.GetPercentage().GetValue()))
		}
	}
}

func checkMirrorPercent(v float64) error {
	if v < 0 || v > 100 {
		return errors.New("mirror percentage must be in the range 0..100")
	}
	return nil
}

func (c *checker) redirect(p string, r *networking.HTTPRedirect) {
	if r == nil {
		return
	}
	if r.GetUri() == "" && r.GetAuthority() == "" && r.GetRedirectPort() == nil && r.GetScheme() == "" {
		c.add(p, "redirect needs at least one of uri, authority, port, derivePort or scheme")
	}
	if code := r.GetRedirectCode(); code != 0 && (code < 300 || code > 399) {
		c.add(field(p, "redirectCode"), "redirect code %d must be 3xx", code)
	}
	if s := r.GetScheme(); s != "" && s != "http" && s != "https" {
		c.add(field(p, "scheme"), "redirect scheme must be http or https")
	}
	if _, ok := r.GetRedirectPort().(*networking.HTTPRedirect_Port); ok {
		c.check(field(p, "port"), checkPort(int64(r.GetPort())))
	}
}

func (c *checker) directResponse(p string, d *networking.HTTPDirectResponse) {
	if d == nil {
		return
	}
	if d.GetStatus() < 200 || d.GetStatus() > 599 {
		c.add(field(p, "status"), "HTTP status %d must be in the range 200..599", d.GetStatus())
	}
	size := len(d.GetBody().GetString_()) + len(d.GetBody().GetBytes())
	if size > 1<<20 {
		c.add(field(p, "body"), "direct response body must be smaller than 1MB")
	}
}

// retryOnPolicies are the conditions Envoy accepts in x-envoy-retry-on and
// x-envoy-retry-grpc-on.
var retryOnPolicies = map[string]bool{
	"5xx": true, "gateway-error": true, "reset": true, "reset-before-request": true, "connect-failure": true,
	"retriable-4xx": true, "refused-stream": true, "retriable-status-codes": true, "retriable-headers": true,
	"envoy-ratelimited": true, "http3-post-connect-failure": true,
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true, "unavailable": true,
}

func (c *checker) retries(p string, r *networking.HTTPRetry) {
	if r == nil {
		return
	}
	if r.GetAttempts() < 0 {
		c.add(field(p, "attempts"), "attempts must not be negative")
	}
	if r.GetAttempts() == 0 && (r.GetPerTryTimeout() != nil || r.GetRetryOn() != "" || r.GetRetryRemoteLocalities() != nil) {
		c.add(field(p, "attempts"), "retry settings are given but attempts is 0 (retries disabled)")
	}
	if r.GetPerTryTimeout() != nil {
		c.check(field(p, "perTryTimeout"), checkDuration(r.GetPerTryTimeout()))
	}
	if r.GetRetryOn() == "" {
		return
	}
	for _, policy := range strings.Split(r.GetRetryOn(), ",") {
		code, _ := strconv.Atoi(policy)
		if http.StatusText(code) == "" && !retryOnPolicies[policy] {
			c.add(field(p, "retryOn"), "%q is not a valid retryOn policy or HTTP status code", policy)
		}
	}
}

func (c *checker) rewrite(p string, r *networking.HTTPRoute) {
	rw := r.GetRewrite()
	if rw == nil {
		return
	}
	p = field(p, "rewrite")
	if rw.GetUri() != "" && rw.GetUriRegexRewrite() != nil {
		c.add(p, "rewrite can have only one of uri and uriRegexRewrite")
	}
	if rw.GetUri() == "" && rw.GetUriRegexRewrite() == nil && rw.GetAuthority() == "" {
		c.add(p, "rewrite needs uri, uriRegexRewrite or authority")
	}
	if re := rw.GetUriRegexRewrite(); re != nil {
		if re.GetMatch() == "" || re.GetRewrite() == "" {
			c.add(field(p, "uriRegexRewrite"), "uriRegexRewrite needs both match and rewrite")
		} else {
			c.check(field(p, "uriRegexRewrite.match"), checkRegex(re.GetMatch()))
		}
	}
	if rw.GetAuthority() != "" {
		for name := range r.GetHeaders().GetRequest().GetSet() {
			if isAuthorityHeader(name) {
				c.add(field(p, "authority"), "authority is rewritten both here and in headers.request")
			}
		}
	}
}

func (c *checker) httpDestinations(p string, routes []*networking.HTTPRouteDestination) {
	total := int64(0)
	for i, r := range routes {
		rp := index(p, i)
		if r == nil {
			c.add(rp, "route destination must not be null")
			continue
		}
		c.routeDestination(rp, r.GetDestination(), r.GetWeight())
		c.headerOperations(field(rp, "headers"), r.GetHeaders())
		total += int64(r.GetWeight())
	}
	c.totalWeight(p, len(routes), total)
}

// routeDestination checks one weighted destination of an http, tls or tcp
// route.
func (c *checker) routeDestination(p string, d *networking.Destination, weight int32) {
	if d == nil {
		c.add(field(p, "destination"), "destination is required")
	} else {
		c.destination(field(p, "destination"), d)
	}
	if weight < 0 {
		c.add(field(p, "weight"), "weight %d must not be negative", weight)
	}
}

// totalWeight requires the weights of several destinations to add up to 100,
// so a split reads as the percentages the user meant. (Recent Istio reads
// weights as relative; Isthmus keeps the stricter rule Istio long enforced.)
func (c *checker) totalWeight(p string, n int, total int64) {
	if n > 1 && total != 100 {
		c.add(p, "the weights of %d destinations add up to %d, they must add up to 100", n, total)
	}
}

// destination checks a destination host, subset and port.
func (c *checker) destination(p string, d *networking.Destination) {
	switch h := d.GetHost(); {
	case h == "":
		c.add(field(p, "host"), "destination host is required")
	case h == "*":
		c.add(field(p, "host"), "destination host cannot be *")
	default:
		c.check(field(p, "host"), checkWildcardHost(h))
	}
	if s := d.GetSubset(); s != "" {
		c.check(field(p, "subset"), checkDNS1123Label(s))
	}
	if d.GetPort() != nil {
		c.check(field(p, "port.number"), checkPort(int64(d.GetPort().GetNumber())))
	}
}
