package simulate

import (
	"slices"
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// world: reviews (port 9080, subsets v1 v2 v3), a VirtualService sending
// jason (header end-user) under /reviews to v3, /api/* 80/20 to v1/v2, and
// everything else to v1; ratings with no VirtualService.
const world = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [10.96.0.10]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 10.0.1.1, labels: {version: v1}}
  - {address: 10.0.1.2, labels: {version: v2}}
  - {address: 10.0.1.3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings.default.svc.cluster.local]
  addresses: [10.96.0.11]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 10.0.2.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}, uri: {prefix: /reviews}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: api
    match: [{uri: {prefix: /api/}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}
  - name: rest
    route: [{destination: {host: reviews, subset: v1}}]
`

func served(t *testing.T) *translate.Resources {
	t.Helper()
	objs, errs := policy.Decode("world.yaml", []byte(world))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	idx := translate.NewIndex(assemble.Build(1, policy.NewConfig(objs), assemble.Settings{}))
	p := &model.Proxy{ID: "sidecar~10.0.0.5~productpage.default~default.svc.cluster.local", Type: model.SidecarProxy,
		Namespace: "default", DNSDomain: "default.svc.cluster.local", IPAddresses: []string{"10.0.0.5"}, InterceptionMode: model.InterceptRedirect}
	res, err := translate.Translate(idx, p)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRouteFollowsTheVirtualService(t *testing.T) {
	res := served(t)
	v := func(subset string) string { return "outbound|9080|" + subset + "|reviews.default.svc.cluster.local" }
	cases := []struct {
		name  string
		req   Request
		route string
		want  []WeightedCluster
	}{
		{"header and prefix", Request{Host: "reviews", Port: 9080, Path: "/reviews/1", Headers: map[string]string{"End-User": "jason"}}, "jason", []WeightedCluster{{v("v3"), 100}}},
		{"prefix without the header", Request{Host: "reviews:9080", Port: 9080, Path: "/reviews/1"}, "rest", []WeightedCluster{{v("v1"), 100}}},
		{"split", Request{Host: "reviews.default.svc.cluster.local", Port: 9080, Path: "/api/v1"}, "api", []WeightedCluster{{v("v1"), 80}, {v("v2"), 20}}},
		{"the VIP", Request{Host: "10.96.0.10", Port: 9080, Path: "/"}, "rest", []WeightedCluster{{v("v1"), 100}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Route(res, c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.Route != c.route || !slices.Equal(got.Clusters, c.want) || got.VirtualService != "default/reviews" ||
				got.VirtualHost != "reviews.default.svc.cluster.local:9080" || got.RouteConfig != "9080" {
				t.Errorf("got %+v, want route %s to %v from default/reviews", got, c.route, c.want)
			}
		})
	}
}

func TestRouteWithoutVirtualServiceTakesTheDefault(t *testing.T) {
	got, err := Route(served(t), Request{Host: "ratings", Port: 9080, Path: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Route != "default" || got.VirtualService != "" || !slices.Equal(got.Clusters, []WeightedCluster{{"outbound|9080||ratings.default.svc.cluster.local", 100}}) {
		t.Errorf("got %+v", got)
	}
}

func TestUnknownHostFallsToTheCatchAll(t *testing.T) {
	got, err := Route(served(t), Request{Host: "example.org", Port: 9080, Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got.VirtualHost != "allow_any" || !slices.Equal(got.Clusters, []WeightedCluster{{"PassthroughCluster", 100}}) {
		t.Errorf("got %+v", got)
	}
}

func TestNoRouteConfigurationForAPort(t *testing.T) {
	_, err := Route(served(t), Request{Host: "reviews", Port: 7777, Path: "/"})
	if err == nil || !strings.Contains(err.Error(), "port 7777") {
		t.Errorf("err = %v, want one naming port 7777", err)
	}
}
