package translate

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// vsReviewsWorld is one HTTP service on 9080 with the VirtualService spec given.
func vsReviewsWorld(t *testing.T, vs string) *meshWorld {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(9080))
	w.service("mirror.default.svc.cluster.local", "default", nil, httpPort(9080))
	w.object(policy.KindVirtualService, "default", "reviews", vs)
	return w
}

func vsReviewsRoutes(t *testing.T, vs string, p *model.Proxy) []*routev3.Route {
	t.Helper()
	return vhostRoutes(t, vsReviewsWorld(t, vs), p, "9080", "reviews.default.svc.cluster.local:9080")
}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func TestMatchTranslation(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- name: r
  match:
  - name: exact
    uri: {exact: /login}
    method: {exact: POST}
    authority: {prefix: reviews}
    headers:
      x-user: {exact: jason}
      x-any: {}
    withoutHeaders:
      x-skip: {exact: "1"}
    queryParams:
      debug: {regex: "t.*"}
  - uri: {regex: "/api/v[0-9]+/.*"}
    ignoreUriCase: true
  - uri: {prefix: /static}
  route: [{destination: {host: reviews}}]
- route: [{destination: {host: reviews}}]`, sidecarProxy("default", nil))
	if len(routes) != 4 {
		t.Fatalf("want 3 match routes and a catch-all, got %d", len(routes))
	}
	want := &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_Path{Path: "/login"},
		Headers: []*routev3.HeaderMatcher{
			{Name: "x-any", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
			{Name: "x-skip", InvertMatch: true, TreatMissingHeaderAsEmpty: true,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("1")}},
			{Name: "x-user", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("jason")}},
			{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("POST")}},
			{Name: ":authority", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "reviews"}}}},
		},
		QueryParameters: []*routev3.QueryParameterMatcher{{Name: "debug",
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "t.*"}}}}}},
	}
	assertProtoEqual(t, "first match", routes[0].GetMatch(), want)
	if routes[0].GetName() != "r.exact" || routes[1].GetName() != "r" {
		t.Errorf("route names = %q, %q; want r.exact, r", routes[0].GetName(), routes[1].GetName())
	}
	assertProtoEqual(t, "regex match", routes[1].GetMatch(), &routev3.RouteMatch{
		PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/api/v[0-9]+/.*"}},
		CaseSensitive: wrapperspb.Bool(false),
	})
	if routes[2].GetMatch().GetPrefix() != "/static" || routes[3].GetMatch().GetPrefix() != "/" {
		t.Errorf("prefix routes = %v, %v", routes[2].GetMatch(), routes[3].GetMatch())
	}
}

func TestMatchesForOtherPortsAndSourcesAreLeftOut(t *testing.T) {
	vs := `
hosts: [reviews]
http:
- match: [{port: 8080, uri: {prefix: /other-port}}]
  route: [{destination: {host: reviews}}]
- match: [{sourceLabels: {app: productpage}, uri: {prefix: /from-productpage}}]
  route: [{destination: {host: reviews, subset: v2}}]
- match: [{sourceNamespace: prod, uri: {prefix: /from-prod}}]
  route: [{destination: {host: reviews}}]
- match: [{gateways: [my-gateway], uri: {prefix: /gateway-only}}]
  route: [{destination: {host: reviews}}]
- route: [{destination: {host: reviews, subset: v1}}]`
	plain := vsReviewsRoutes(t, vs, sidecarProxy("default", map[string]string{"app": "ratings"}))
	if len(plain) != 1 || plain[0].GetRoute().GetCluster() != "outbound|9080|v1|reviews.default.svc.cluster.local" {
		t.Errorf("a ratings proxy should only get the catch-all, got %v", plain)
	}
	labelled := vsReviewsRoutes(t, vs, sidecarProxy("default", map[string]string{"app": "productpage", "version": "v1"}))
	if len(labelled) != 2 || labelled[0].GetMatch().GetPrefix() != "/from-productpage" {
		t.Errorf("a productpage proxy should get its source-label route, got %v", labelled)
	}
}

func TestRouteAfterCatchAllIsDropped(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- match: [{uri: {prefix: /}}]
  route: [{destination: {host: reviews, subset: v1}}]
- route: [{destination: {host: reviews, subset: v2}}]`, sidecarProxy("default", nil))
	if len(routes) != 1 {
		t.Errorf("routes after a catch-all can never match; got %d routes", len(routes))
	}
}

func TestFaultInjection(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- fault:
    delay: {fixedDelay: 7s, percentage: {value: 12.5}}
    abort: {httpStatus: 503, percentage: {value: 100}}
  route: [{destination: {host: reviews}}]`, sidecarProxy("default", nil))
	cfg := routes[0].GetTypedPerFilterConfig()[wellknown.Fault]
	if cfg == nil {
		t.Fatalf("no fault configuration on the route")
	}
	fault := &faultv3.HTTPFault{}
	if err := cfg.UnmarshalTo(fault); err != nil {
		t.Fatal(err)
	}
	if got := fault.GetDelay().GetFixedDelay().AsDuration().String(); got != "7s" {
		t.Errorf("delay = %s", got)
	}
	assertProtoEqual(t, "delay percentage", fault.GetDelay().GetPercentage(),
		&typev3.FractionalPercent{Numerator: 125000, Denominator: typev3.FractionalPercent_MILLION})
	if fault.GetAbort().GetHttpStatus() != 503 || fault.GetAbort().GetPercentage().GetNumerator() != 1000000 {
		t.Errorf("abort = %v", fault.GetAbort())
	}
}

func TestGRPCAbort(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}}
  route: [{destination: {host: reviews}}]`, sidecarProxy("default", nil))
	fault := &faultv3.HTTPFault{}
	if err := routes[0].GetTypedPerFilterConfig()[wellknown.Fault].UnmarshalTo(fault); err != nil {
		t.Fatal(err)
	}
	if fault.GetAbort().GetGrpcStatus() != 14 {
		t.Errorf("grpc status = %d, want 14 (UNAVAILABLE)", fault.GetAbort().GetGrpcStatus())
	}
}

func TestMirrors(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- mirror: {host: mirror}
  mirrorPercentage: {value: 25}
  mirrors:
  - destination: {host: mirror, subset: canary}
  route: [{destination: {host: reviews}}]`, sidecarProxy("default", nil))
	want := []*routev3.RouteAction_RequestMirrorPolicy{
		{
			Cluster:         "outbound|9080||mirror.default.svc.cluster.local",
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 250000, Denominator: typev3.FractionalPercent_MILLION}},
			TraceSampled:    wrapperspb.Bool(false),
		},
		{
			Cluster:         "outbound|9080|canary|mirror.default.svc.cluster.local",
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}},
			TraceSampled:    wrapperspb.Bool(false),
		},
	}
	got := routes[0].GetRoute().GetRequestMirrorPolicies()
	if len(got) != len(want) {
		t.Fatalf("mirror policies = %v", got)
	}
	for i := range want {
		assertProtoEqual(t, "mirror", got[i], want[i])
	}
}

func TestRewrites(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- match: [{uri: {prefix: /old}}]
  rewrite: {uri: /new, authority: reviews.internal}
  route: [{destination: {host: reviews}}]
- match: [{uri: {prefix: /re}}]
  rewrite: {uriRegexRewrite: {match: "^/re/(.*)$", rewrite: "/\\1"}}
  route: [{destination: {host: reviews}}]`, sidecarProxy("default", nil))
	first := routes[0].GetRoute()
	if first.GetPrefixRewrite() != "/new" || first.GetHostRewriteLiteral() != "reviews.internal" {
		t.Errorf("rewrite = prefix %q host %q", first.GetPrefixRewrite(), first.GetHostRewriteLiteral())
	}
	if got := routes[1].GetRoute().GetRegexRewrite(); got.GetPattern().GetRegex() != "^/re/(.*)$" || got.GetSubstitution() != `/\1` {
		t.Errorf("regex rewrite = %v", got)
	}
}

func TestRedirectAndDirectResponse(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- match: [{uri: {exact: /moved}}]
  redirect: {uri: /new, authority: other.example.com, redirectCode: 302, scheme: https, port: 8443}
- match: [{uri: {exact: /same-port}}]
  redirect: {uri: /x, derivePort: FROM_REQUEST_PORT}
- directResponse: {status: 418, body: {string: "teapot"}}`, sidecarProxy("default", nil))
	assertProtoEqual(t, "redirect", routes[0].GetRedirect(), &routev3.RedirectAction{
		HostRedirect:           "other.example.com",
		PathRewriteSpecifier:   &routev3.RedirectAction_PathRedirect{PathRedirect: "/new"},
		SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"},
		PortRedirect:           8443,
		ResponseCode:           routev3.RedirectAction_FOUND,
	})
	if got := routes[1].GetRedirect().GetPortRedirect(); got != 9080 {
		t.Errorf("derived redirect port = %d, want the listener port 9080", got)
	}
	dr := routes[2].GetDirectResponse()
	if dr.GetStatus() != 418 || dr.GetBody().GetInlineString() != "teapot" {
		t.Errorf("direct response = %v", dr)
	}
}

func TestHeaderOperations(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- headers:
    request:
      set: {x-b: "1", x-a: "2", host: ignored.example.com}
      add: {x-c: "3"}
      remove: [x-d, ":path"]
    response:
      set: {x-e: "4"}
      remove: [server]
  route:
  - destination: {host: reviews, subset: v1}
    weight: 90
    headers:
      request: {set: {x-version: v1}}
      response: {add: {x-served-by: v1}}
  - destination: {host: reviews, subset: v2}
    weight: 10`, sidecarProxy("default", nil))
	r := routes[0]
	overwrite := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	appendAction := corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	wantReq := []*corev3.HeaderValueOption{
		{Header: &corev3.HeaderValue{Key: "x-a", Value: "2"}, AppendAction: overwrite},
		{Header: &corev3.HeaderValue{Key: "x-b", Value: "1"}, AppendAction: overwrite},
		{Header: &corev3.HeaderValue{Key: "x-c", Value: "3"}, AppendAction: appendAction},
	}
	if len(r.GetRequestHeadersToAdd()) != len(wantReq) {
		t.Fatalf("request headers = %v", r.GetRequestHeadersToAdd())
	}
	for i := range wantReq {
		assertProtoEqual(t, "request header", r.GetRequestHeadersToAdd()[i], wantReq[i])
	}
	if got := r.GetRequestHeadersToRemove(); len(got) != 1 || got[0] != "x-d" {
		t.Errorf("request removals = %v, want [x-d]", got)
	}
	if got := r.GetRoute().GetHostRewriteLiteral(); got != "ignored.example.com" {
		t.Errorf("setting host should rewrite the authority, got %q", got)
	}
	if got := r.GetResponseHeadersToRemove(); len(got) != 1 || got[0] != "server" {
		t.Errorf("response removals = %v", got)
	}
	v1 := r.GetRoute().GetWeightedClusters().GetClusters()[0]
	if len(v1.GetRequestHeadersToAdd()) != 1 || v1.GetRequestHeadersToAdd()[0].GetHeader().GetKey() != "x-version" ||
		v1.GetResponseHeadersToAdd()[0].GetAppendAction() != appendAction {
		t.Errorf("destination headers on weighted cluster = %v", v1)
	}
}

func TestCORSPolicy(t *testing.T) {
	routes := vsReviewsRoutes(t, `
hosts: [reviews]
http:
- corsPolicy:
    allowOrigins: [{exact: "https://example.com"}, {regex: "https://.*\\.example\\.org"}]
    allowMethods: [GET, POST]
    allowHeaders: [x-token]
    exposeHeaders: [x-trace]
    maxAge: 86400s
    allowCredentials: true
  route: [{destination: {host: reviews}}]`, sidecarProxy("default", nil))
	cors := &corsv3.CorsPolicy{}
	if err := routes[0].GetTypedPerFilterConfig()[wellknown.CORS].UnmarshalTo(cors); err != nil {
		t.Fatal(err)
	}
	want := &corsv3.CorsPolicy{
		AllowOriginStringMatch: []*matcherv3.StringMatcher{exact("https://example.com"),
			{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `https://.*\.example\.org`}}}},
		AllowMethods:                 "GET,POST",
		AllowHeaders:                 "x-token",
		ExposeHeaders:                "x-trace",
		MaxAge:                       "86400",
		AllowCredentials:             wrapperspb.Bool(true),
		FilterEnabled:                &corev3.RuntimeFractionalPercent{DefaultValue: hundredths(100)},
		ForwardNotMatchingPreflights: wrapperspb.Bool(true),
	}
	assertProtoEqual(t, "cors", cors, want)
}

func TestConsistentHashFromDestinationRule(t *testing.T) {
	w := vsReviewsWorld(t, `
hosts: [reviews]
http: [{route: [{destination: {host: reviews, subset: sticky}}]}]`)
	w.object(policy.KindDestinationRule, "default", "reviews", `
host: reviews
subsets:
- name: sticky
  labels: {version: v1}
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}`)
	routes := vhostRoutes(t, w, sidecarProxy("default", nil), "9080", "reviews.default.svc.cluster.local:9080")
	action := routes[0].GetRoute()
	if len(action.GetHashPolicy()) != 1 || action.GetHashPolicy()[0].GetHeader().GetHeaderName() != "x-user" {
		t.Errorf("hash policy = %v", action.GetHashPolicy())
	}
	if len(action.GetRetryPolicy().GetRetryHostPredicate()) != 0 {
		t.Error("retries under consistent hashing must stay on the same host")
	}
}

func TestExactHostVirtualServiceBeatsWildcard(t *testing.T) {
	w := vsReviewsWorld(t, `
hosts: ["*.default.svc.cluster.local"]
http: [{route: [{destination: {host: reviews, subset: wildcard}}]}]`)
	w.object(policy.KindVirtualService, "default", "z-exact", `
hosts: [reviews]
http: [{route: [{destination: {host: reviews, subset: exact}}]}]`)
	res := w.translate(sidecarProxy("default", nil))
	rc := findRouteConfig(t, res, "9080")
	got := findVirtualHost(t, rc, "reviews.default.svc.cluster.local:9080").GetRoutes()[0].GetRoute().GetCluster()
	if got != "outbound|9080|exact|reviews.default.svc.cluster.local" {
		t.Errorf("reviews routes to %q, want the exact-host VirtualService", got)
	}
	mirror := findVirtualHost(t, rc, "mirror.default.svc.cluster.local:9080").GetRoutes()[0].GetRoute().GetCluster()
	if mirror != "outbound|9080|wildcard|reviews.default.svc.cluster.local" {
		t.Errorf("mirror routes to %q, want the wildcard VirtualService", mirror)
	}
}
