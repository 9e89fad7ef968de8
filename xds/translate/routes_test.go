package translate

import (
	"slices"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/policy"
)

func TestServiceWithoutVirtualServiceGetsDefaultRoute(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(9080))
	rc := findRouteConfig(t, w.translate(sidecarProxy("default", nil)), "9080")

	vh := findVirtualHost(t, rc, "reviews.default.svc.cluster.local:9080")
	if len(vh.GetRoutes()) != 1 {
		t.Fatalf("want one default route, got %d", len(vh.GetRoutes()))
	}
	r := vh.GetRoutes()[0]
	if r.GetName() != "default" || r.GetMatch().GetPrefix() != "/" {
		t.Errorf("route %q matches %v, want default on prefix /", r.GetName(), r.GetMatch())
	}
	action := r.GetRoute()
	if got := action.GetCluster(); got != "outbound|9080||reviews.default.svc.cluster.local" {
		t.Errorf("cluster = %q", got)
	}
	if action.GetTimeout().AsDuration() != 0 {
		t.Errorf("timeout = %v, want 0 (disabled)", action.GetTimeout().AsDuration())
	}
	retry := action.GetRetryPolicy()
	if retry.GetNumRetries().GetValue() != 2 || retry.GetRetryOn() != defaultRetryOn ||
		!slices.Equal(retry.GetRetriableStatusCodes(), []uint32{503}) || retry.GetHostSelectionRetryMaxAttempts() != 5 {
		t.Errorf("retry policy = %v, want Istio's default", retry)
	}
	if len(retry.GetRetryHostPredicate()) != 1 || retry.GetRetryHostPredicate()[0].GetName() != previousHostsPredicate {
		t.Errorf("retry host predicate = %v, want previous hosts", retry.GetRetryHostPredicate())
	}
	if rc.GetValidateClusters().GetValue() {
		t.Error("validate_clusters should be false")
	}
}

func TestVirtualHostDomains(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(9080))
	w.service("ratings.other.svc.cluster.local", "other", []string{"10.96.0.11"}, httpPort(9080))
	w.service("api.example.com", "default", nil, httpPort(9080))
	rc := findRouteConfig(t, w.translate(sidecarProxy("default", nil)), "9080")

	cases := map[string][]string{
		"reviews.default.svc.cluster.local:9080": {
			"reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local:9080",
			"reviews", "reviews:9080", "reviews.default.svc", "reviews.default.svc:9080",
			"reviews.default", "reviews.default:9080", "10.96.0.10", "10.96.0.10:9080",
		},
		"ratings.other.svc.cluster.local:9080": {
			"ratings.other.svc.cluster.local", "ratings.other.svc.cluster.local:9080",
			"ratings.other", "ratings.other:9080", "ratings.other.svc", "ratings.other.svc:9080",
			"10.96.0.11", "10.96.0.11:9080",
		},
		"api.example.com:9080": {"api.example.com", "api.example.com:9080"},
	}
	for name, want := range cases {
		if got := findVirtualHost(t, rc, name).GetDomains(); !slices.Equal(got, want) {
			t.Errorf("%s domains:\n got  %v\n want %v", name, got, want)
		}
	}
	last := rc.GetVirtualHosts()[len(rc.GetVirtualHosts())-1]
	if last.GetName() != "allow_any" || !slices.Equal(last.GetDomains(), []string{"*"}) ||
		last.GetRoutes()[0].GetRoute().GetCluster() != PassthroughCluster {
		t.Errorf("last virtual host = %v, want allow_any to PassthroughCluster", last)
	}
}

func TestDomainsStayUniqueAcrossVirtualHosts(t *testing.T) {
	w := newMeshWorld(t)
	// Two services sharing a VIP: the second keeps its hostname, not the VIP.
	w.service("a.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(80))
	w.service("b.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(80))
	rc := findRouteConfig(t, w.translate(sidecarProxy("default", nil)), "80")
	b := findVirtualHost(t, rc, "b.default.svc.cluster.local:80")
	if slices.Contains(b.GetDomains(), "10.96.0.10") {
		t.Errorf("second service repeats the shared VIP: %v", b.GetDomains())
	}
	if !slices.Contains(b.GetDomains(), "b.default.svc.cluster.local") {
		t.Errorf("second service lost its hostname: %v", b.GetDomains())
	}
}

func TestRegistryOnlyAnswers502ForUnknownHosts(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", nil, httpPort(9080))
	w.object(policy.KindSidecar, "default", "default", `
egress: [{hosts: ["*/*"]}]
outboundTrafficPolicy: {mode: REGISTRY_ONLY}`)
	rc := findRouteConfig(t, w.translate(sidecarProxy("default", nil)), "9080")
	vh := findVirtualHost(t, rc, "block_all")
	if got := vh.GetRoutes()[0].GetDirectResponse().GetStatus(); got != 502 {
		t.Errorf("block_all answers %d, want 502", got)
	}
}

func TestVirtualServiceWeightedSplit(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(9080))
	w.object(policy.KindVirtualService, "default", "reviews", `
hosts: [reviews]
http:
- name: split
  route:
  - destination: {host: reviews, subset: v1}
    weight: 80
  - destination: {host: reviews, subset: v2}
    weight: 20
  - destination: {host: reviews, subset: v3}
    weight: 0`)
	routes := vhostRoutes(t, w, sidecarProxy("default", nil), "9080", "reviews.default.svc.cluster.local:9080")
	if len(routes) != 1 || routes[0].GetName() != "split" {
		t.Fatalf("routes = %v", routes)
	}
	want := &routev3.WeightedCluster{Clusters: []*routev3.WeightedCluster_ClusterWeight{
		{Name: "outbound|9080|v1|reviews.default.svc.cluster.local", Weight: wrapperspb.UInt32(80)},
		{Name: "outbound|9080|v2|reviews.default.svc.cluster.local", Weight: wrapperspb.UInt32(20)},
	}}
	assertProtoEqual(t, "weighted clusters", routes[0].GetRoute().GetWeightedClusters(), want)
}

func TestDestinationPortResolution(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", nil, httpPort(9080))
	w.service("multi.default.svc.cluster.local", "default", nil, httpPort(8080), httpPort(9080))
	w.service("single.other.svc.cluster.local", "other", nil, httpPort(7000))
	w.object(policy.KindVirtualService, "default", "reviews", `
hosts: [reviews]
http:
- match: [{uri: {prefix: /single}}]
  route: [{destination: {host: single.other.svc.cluster.local}}]
- match: [{uri: {prefix: /multi}}]
  route: [{destination: {host: multi}}]
- route: [{destination: {host: multi, port: {number: 8080}}}]`)
	routes := vhostRoutes(t, w, sidecarProxy("default", nil), "9080", "reviews.default.svc.cluster.local:9080")
	want := []string{
		"outbound|7000||single.other.svc.cluster.local",  // the service's only port
		"outbound|9080||multi.default.svc.cluster.local", // the listener port
		"outbound|8080||multi.default.svc.cluster.local", // the port named
	}
	for i, r := range routes {
		if got := r.GetRoute().GetCluster(); got != want[i] {
			t.Errorf("route %d cluster = %q, want %q", i, got, want[i])
		}
	}
}

func TestTimeoutAndRetries(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", nil, httpPort(9080))
	w.object(policy.KindVirtualService, "default", "reviews", `
hosts: [reviews]
http:
- match: [{uri: {prefix: /noretry}}]
  retries: {attempts: 0}
  route: [{destination: {host: reviews}}]
- timeout: 3s
  retries:
    attempts: 4
    perTryTimeout: 0.5s
    retryOn: gateway-error,connect-failure,504,503
    retryRemoteLocalities: true
  route: [{destination: {host: reviews}}]`)
	routes := vhostRoutes(t, w, sidecarProxy("default", nil), "9080", "reviews.default.svc.cluster.local:9080")
	if routes[0].GetRoute().GetRetryPolicy() != nil {
		t.Errorf("attempts 0 should disable retries, got %v", routes[0].GetRoute().GetRetryPolicy())
	}
	action := routes[1].GetRoute()
	if got := action.GetTimeout().AsDuration().String(); got != "3s" {
		t.Errorf("timeout = %s, want 3s", got)
	}
	retry := action.GetRetryPolicy()
	if retry.GetNumRetries().GetValue() != 4 || retry.GetPerTryTimeout().AsDuration().String() != "500ms" {
		t.Errorf("retry = %v", retry)
	}
	if got := retry.GetRetryOn(); got != "gateway-error,connect-failure,retriable-status-codes" {
		t.Errorf("retry_on = %q", got)
	}
	if got := retry.GetRetriableStatusCodes(); !slices.Equal(got, []uint32{504, 503}) {
		t.Errorf("retriable codes = %v", got)
	}
	if retry.GetRetryPriority().GetName() != previousPrioritiesName {
		t.Errorf("retryRemoteLocalities should set previous priorities, got %v", retry.GetRetryPriority())
	}
}

func TestParseRetryOn(t *testing.T) {
	cases := []struct {
		in, on string
		codes  []uint32
	}{
		{"5xx", "5xx", nil},
		{"503", "retriable-status-codes", []uint32{503}},
		{"retriable-status-codes, 502,reset", "retriable-status-codes,reset", []uint32{502}},
		{"999,reset", "999,reset", nil}, // not an HTTP status
	}
	for _, c := range cases {
		on, codes := parseRetryOn(c.in)
		if on != c.on || !slices.Equal(codes, c.codes) {
			t.Errorf("parseRetryOn(%q) = %q, %v; want %q, %v", c.in, on, codes, c.on, c.codes)
		}
	}
}

func TestDefaultTimeoutIsDisabled(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", nil, httpPort(9080))
	w.object(policy.KindVirtualService, "default", "reviews", `
hosts: [reviews]
http: [{route: [{destination: {host: reviews}}]}]`)
	routes := vhostRoutes(t, w, sidecarProxy("default", nil), "9080", "reviews.default.svc.cluster.local:9080")
	assertProtoEqual(t, "timeout", routes[0].GetRoute().GetTimeout(), durationpb.New(0))
}

func TestSidecarEgressHostsScopeVirtualServices(t *testing.T) {
	build := func(egressHosts string) string {
		w := newMeshWorld(t)
		w.service("reviews.default.svc.cluster.local", "default", nil, httpPort(9080))
		w.object(policy.KindVirtualService, "other", "reviews-from-other", `
hosts: [reviews.default.svc.cluster.local]
http: [{route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]}]`)
		w.object(policy.KindSidecar, "default", "default", "egress: [{hosts: "+egressHosts+"}]")
		routes := vhostRoutes(t, w, sidecarProxy("default", nil), "9080", "reviews.default.svc.cluster.local:9080")
		return routes[0].GetRoute().GetCluster()
	}
	if got := build(`["./*"]`); got != "outbound|9080||reviews.default.svc.cluster.local" {
		t.Errorf(`egress "./*" should not import a VirtualService of namespace other; routes to %q`, got)
	}
	if got := build(`["*/*"]`); got != "outbound|9080|v2|reviews.default.svc.cluster.local" {
		t.Errorf(`egress "*/*" imports every VirtualService; routes to %q`, got)
	}
}
