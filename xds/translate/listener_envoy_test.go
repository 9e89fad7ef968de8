package translate

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// TestListenersAndRoutesPassEnvoyValidation loads the listeners and route
// configurations of each scenario and golden input into Envoy in validate
// mode. Route configurations are served over ADS in production; here each
// is attached inline to an extra unbound listener so Envoy checks it too.
func TestListenersAndRoutesPassEnvoyValidation(t *testing.T) {
	bin := envoyBinary(t)
	for name, res := range envoyScenarios(t) {
		t.Run(name, func(t *testing.T) { envoyValidate(t, bin, routeCheckBootstrap(res)) })
	}
	inputs, _ := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	for _, in := range inputs {
		t.Run("golden-"+strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			envoyValidate(t, bin, routeCheckBootstrap(translateGoldenInput(t, in)))
		})
	}
}

// routeCheckBootstrap is validationBootstrap plus one listener per route
// configuration holding it inline.
func routeCheckBootstrap(res *Resources) *bootstrapv3.Bootstrap {
	b := validationBootstrap(res)
	for i, rc := range res.Routes {
		l := &listenerv3.Listener{
			Name:       fmt.Sprintf("route-check-%d", i),
			Address:    socketAddress("127.0.0.1", uint32(30000+i)),
			BindToPort: wrapperspb.Bool(false),
			FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{
				httpConnectionManager(hcmOptions{statPrefix: "route_check", routes: rc}),
			}}},
		}
		b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
	}
	return b
}

// envoyScenarios translates worlds exercising every listener and route
// feature.
func envoyScenarios(t *testing.T) map[string]*Resources {
	w := listenerWorld(t)
	w.service("raw.default.svc.cluster.local", "default", nil, tcpPort(9080))
	w.service("cidr.example.com", "default", []string{"192.168.0.0/16"}, tcpPort(6379))
	self := w.service("client.default.svc.cluster.local", "default", nil, httpPort(80), tcpPort(5000))
	w.endpoint(self, &discovery.Endpoint{Address: "10.0.0.5", Port: 8080, ServicePort: 80})
	w.endpoint(self, &discovery.Endpoint{Address: "10.0.0.5", Port: 5000, ServicePort: 5000})
	w.object(policy.KindVirtualService, "default", "reviews", everyHTTPFeature)
	w.object(policy.KindVirtualService, "default", "db", `
hosts: [db]
tcp:
- match: [{destinationSubnets: [10.96.0.20/32]}]
  route: [{destination: {host: db, subset: a}, weight: 60}, {destination: {host: db, subset: b}, weight: 40}]`)
	w.object(policy.KindVirtualService, "default", "api", `
hosts: [api.example.com]
tls:
- match: [{sniHosts: [api.example.com, "*.api.example.com"]}]
  route: [{destination: {host: api.example.com}}]`)
	tproxy := sidecarProxy("default", nil)
	tproxy.InterceptionMode = model.InterceptTProxy
	out := map[string]*Resources{
		"redirect": w.translate(sidecarProxy("default", nil)),
		"tproxy":   w.translate(tproxy),
		"none":     w.translate(noneModeProxy()),
	}
	w.object(policy.KindSidecar, "default", "default", `
ingress:
- port: {number: 9090, protocol: HTTP, name: http}
  defaultEndpoint: 127.0.0.1:8080
  captureMode: NONE
egress:
- port: {number: 9080, protocol: HTTP, name: http}
  bind: 127.0.0.2
  captureMode: NONE
  hosts: [./*]
- hosts: ["*/*"]
outboundTrafficPolicy: {mode: REGISTRY_ONLY}`)
	out["sidecar"] = w.translate(sidecarProxy("default", nil))
	return out
}

const everyHTTPFeature = `
hosts: [reviews]
http:
- name: match-all-kinds
  match:
  - uri: {exact: /a}
    headers: {x-a: {exact: "1"}, x-b: {prefix: p}, x-c: {regex: "r.*"}, x-d: {}}
    withoutHeaders: {x-e: {exact: "2"}}
    queryParams: {q: {exact: v}, r: {regex: "[0-9]+"}}
    method: {exact: GET}
    authority: {exact: reviews}
  - uri: {regex: "/b/[a-z]+"}
    ignoreUriCase: true
  fault:
    delay: {fixedDelay: 1s, percentage: {value: 0.5}}
    abort: {grpcStatus: UNAVAILABLE, percentage: {value: 1}}
  corsPolicy:
    allowOrigins: [{exact: "https://a.example"}, {prefix: "https://b"}]
    allowMethods: [GET]
    maxAge: 60s
    allowCredentials: false
  retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,503", retryRemoteLocalities: true, retryIgnorePreviousHosts: false}
  timeout: 10s
  mirror: {host: reviews, subset: shadow}
  mirrorPercentage: {value: 5}
  headers:
    request: {set: {x-s: "1"}, add: {x-t: "2"}, remove: [x-u]}
    response: {set: {x-v: "3"}, remove: [x-w]}
  route:
  - destination: {host: reviews, subset: v1}
    weight: 70
    headers: {request: {set: {x-dest: v1, ":authority": v1.reviews}}}
  - destination: {host: reviews, subset: v2}
    weight: 30
- match: [{uri: {prefix: /rewrite}}]
  rewrite: {uri: /, authority: other}
  route: [{destination: {host: reviews}}]
- match: [{uri: {prefix: /regex-rewrite}}]
  rewrite: {uriRegexRewrite: {match: "^/regex-rewrite/(.*)", rewrite: "/\\1"}}
  route: [{destination: {host: reviews}}]
- match: [{uri: {prefix: /redirect}}]
  redirect: {uri: /x, authority: a.example, redirectCode: 308, scheme: https, port: 8443}
- match: [{uri: {prefix: /teapot}}]
  directResponse: {status: 418, body: {string: short and stout}}
- route: [{destination: {host: reviews}}]
`
