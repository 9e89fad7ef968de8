package translate

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/isthmus-mesh/isthmus/discovery/serviceentry"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// gatewayIndex indexes Istio YAML (ServiceEntries, Gateways,
// VirtualServices...) decoded and validated as the golden tests do it.
func gatewayIndex(t *testing.T, docs string) *Index {
	t.Helper()
	objs, errs := policy.Decode("test.yaml", []byte(docs))
	for _, o := range objs {
		errs = append(errs, policy.Validate(o)...)
	}
	for _, e := range errs {
		t.Fatalf("invalid input: %v", e)
	}
	cfg := policy.NewConfig(objs)
	return NewIndex(&model.Snapshot{Version: 1, Config: cfg, Catalog: serviceentry.Build(cfg)})
}

// routerProxy is an ingress gateway pod of namespace ns with labels.
func routerProxy(t *testing.T, ns string, labels map[string]any, extra map[string]any) *model.Proxy {
	t.Helper()
	md := map[string]any{"NAMESPACE": ns, "LABELS": labels}
	for k, v := range extra {
		md[k] = v
	}
	st, err := structpb.NewStruct(md)
	if err != nil {
		t.Fatal(err)
	}
	p, err := model.ParseNode(&corev3.Node{Id: "router~10.0.0.9~gw-1." + ns + "~" + ns + ".svc.cluster.local", Metadata: st})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func translateGateway(t *testing.T, idx *Index, p *model.Proxy) *Resources {
	t.Helper()
	res, err := Translate(idx, p)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	return res
}

const gatewayServices = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}, {number: 9000, name: tcp, protocol: TCP}]
  endpoints: [{address: 10.0.4.1}]
`

func routeConfig(t *testing.T, res *Resources, name string) *routev3.RouteConfiguration {
	t.Helper()
	for _, rc := range res.Routes {
		if rc.GetName() == name {
			return rc
		}
	}
	t.Fatalf("no route configuration %q among %d", name, len(res.Routes))
	return nil
}

func virtualHostNames(rc *routev3.RouteConfiguration) []string {
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		out = append(out, vh.GetName())
	}
	return out
}

func TestGatewaySelectionFollowsSelectorInAnyNamespace(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: apps}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: internal, namespace: apps}
spec:
  selector: {istio: internalgateway}
  servers: [{port: {number: 8081, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: everyone, namespace: other}
spec:
  servers: [{port: {number: 8082, name: http, protocol: HTTP}, hosts: ["*"]}]
`)
	ingress := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))
	if got, want := listenerNames(ingress), []string{"0.0.0.0_8080", "0.0.0.0_8082"}; !slices.Equal(got, want) {
		t.Errorf("ingress gateway listeners %v, want %v", got, want)
	}
	internal := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "internalgateway"}, nil))
	if got, want := listenerNames(internal), []string{"0.0.0.0_8081", "0.0.0.0_8082"}; !slices.Equal(got, want) {
		t.Errorf("internal gateway listeners %v, want %v", got, want)
	}
}

func TestGatewayViewTellsApartSelectedLabels(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: apps}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
`)
	tr := NewTranslator(idx)
	a := routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway", "pod-template-hash": "a"}, nil)
	b := routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway", "pod-template-hash": "b"}, nil)
	other := routerProxy(t, "istio-system", map[string]any{"istio": "egressgateway"}, nil)
	resA, _ := tr.Translate(a)
	resB, _ := tr.Translate(b)
	resOther, _ := tr.Translate(other)
	if tr.Views() != 2 {
		t.Errorf("%d views for two gateways of one Gateway and one unselected, want 2", tr.Views())
	}
	if len(resA.Listeners) != 1 || resA.Listeners[0] != resB.Listeners[0] {
		t.Errorf("gateways selected alike do not share their listener: %v, %v", listenerNames(resA), listenerNames(resB))
	}
	if len(resOther.Listeners) != 0 {
		t.Errorf("unselected gateway has listeners %v", listenerNames(resOther))
	}
}

func TestGatewayPortConflictsKeepTheFirstServer(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 8080, name: http, protocol: HTTP}, hosts: [a.example.com]}
  - {port: {number: 8443, name: https-a, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 8080, name: tcp, protocol: TCP}, hosts: [b.example.com]}
  - {port: {number: 8443, name: https-b, protocol: HTTPS}, hosts: [a.example.com, b.example.com], tls: {mode: SIMPLE, credentialName: b}}
  - {port: {number: 8443, name: https-c, protocol: HTTPS}, hosts: [c.example.com], tls: {mode: SIMPLE, credentialName: c}}
`)
	gw := planGateways(idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))
	got := map[uint32][]string{}
	for _, gp := range gw {
		for _, gs := range gp.servers {
			got[gp.port] = append(got[gp.port], gs.gateway+":"+gs.spec.GetPort().GetName())
		}
	}
	if want := []string{"default/a:http"}; !slices.Equal(got[8080], want) {
		t.Errorf("port 8080 servers %v, want %v (a TCP server cannot join HTTP)", got[8080], want)
	}
	if want := []string{"default/a:https-a", "default/b:https-c"}; !slices.Equal(got[8443], want) {
		t.Errorf("port 8443 servers %v, want %v (a host already served by TLS is refused)", got[8443], want)
	}
}

func TestGatewayRoutesHonourMatchGateways(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: [web.example.com]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  gateways: [public, mesh, default/other]
  http:
  - name: other-gateway
    match: [{uri: {prefix: /other}, gateways: [other]}]
    route: [{destination: {host: web}}]
  - name: this-gateway
    match: [{uri: {prefix: /public}, gateways: [default/public], sourceLabels: {app: nobody}}]
    route: [{destination: {host: web}}]
  - name: by-source
    match: [{uri: {prefix: /labelled}, sourceLabels: {app: nobody}}]
    route: [{destination: {host: web}}]
  - name: default
    route: [{destination: {host: web}}]
`)
	res := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))
	rc := routeConfig(t, res, "http.8080")
	if got, want := virtualHostNames(rc), []string{"web.example.com:8080"}; !slices.Equal(got, want) {
		t.Fatalf("virtual hosts %v, want %v", got, want)
	}
	var names []string
	for _, r := range rc.GetVirtualHosts()[0].GetRoutes() {
		names = append(names, r.GetName())
	}
	if want := []string{"this-gateway", "default"}; !slices.Equal(names, want) {
		t.Errorf("routes %v, want %v", names, want)
	}
	if got := rc.GetVirtualHosts()[0].GetDomains(); !slices.Equal(got, []string{"web.example.com"}) || !rc.GetIgnorePortInHostMatching() {
		t.Errorf("domains %v (ignore port %v), want the host alone with the port ignored", got, rc.GetIgnorePortInHostMatching())
	}
}

func TestGatewayWithoutVirtualServiceAnswers404(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
`)
	rc := routeConfig(t, translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil)), "http.8080")
	vhs := rc.GetVirtualHosts()
	if len(vhs) != 1 || vhs[0].GetName() != "blackhole:8080" || len(vhs[0].GetRoutes()) != 0 || !slices.Equal(vhs[0].GetDomains(), []string{"*"}) {
		t.Errorf("virtual hosts %v, want only blackhole:8080 for * without routes", vhs)
	}
}

func TestGatewayUnprivilegedProxySkipsLowPorts(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}
  - {port: {number: 8080, name: http-alt, protocol: HTTP}, hosts: ["*"]}
`)
	res := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, map[string]any{"UNPRIVILEGED_POD": "true"}))
	if got, want := listenerNames(res), []string{"0.0.0.0_8080"}; !slices.Equal(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
	if len(res.Routes) != 1 || res.Routes[0].GetName() != "http.8080" {
		t.Errorf("routes %d, want http.8080 alone", len(res.Routes))
	}
}

func TestGatewayTLSTerminationWithTCPRoute(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tls, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: tls, protocol: TLS}
    tls: {mode: OPTIONAL_MUTUAL, credentialName: kubernetes://ns1/web-cert}
    hosts: [web.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  gateways: [tls]
  tcp:
  - match: [{port: 9999}]
    route: [{destination: {host: web, port: {number: 8000}}}]
  - route: [{destination: {host: web, port: {number: 9000}}}]
`)
	res := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))
	if len(res.Listeners) != 1 || len(res.Listeners[0].GetFilterChains()) != 1 {
		t.Fatalf("listeners %v, want one with one chain", listenerNames(res))
	}
	fc := res.Listeners[0].GetFilterChains()[0]
	if got := fc.GetFilterChainMatch().GetServerNames(); !slices.Equal(got, []string{"web.example.com"}) {
		t.Errorf("server names %v", got)
	}
	tp := &tcpproxyv3.TcpProxy{}
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(tp); err != nil {
		t.Fatal(err)
	}
	if got := tp.GetCluster(); got != "outbound|9000||web.default.svc.cluster.local" {
		t.Errorf("tcp proxy to %q, want the route matching port 8443", got)
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatal(err)
	}
	common := ctx.GetCommonTlsContext()
	if got := common.GetTlsCertificateSdsSecretConfigs()[0].GetName(); got != "kubernetes://ns1/web-cert" {
		t.Errorf("key pair secret %q", got)
	}
	if got := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName(); got != "kubernetes://ns1/web-cert-cacert" {
		t.Errorf("CA secret %q", got)
	}
	if ctx.GetRequireClientCertificate().GetValue() {
		t.Error("OPTIONAL_MUTUAL requires a client certificate")
	}
}

func TestGatewayHTTPConnectionManagerUsesRemoteAddress(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
`)
	res := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))
	hcm := &hcmv3.HttpConnectionManager{}
	if err := res.Listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	if !hcm.GetUseRemoteAddress().GetValue() || hcm.GetForwardClientCertDetails() != hcmv3.HttpConnectionManager_SANITIZE_SET {
		t.Errorf("gateway HCM: use_remote_address %v, XFCC %v", hcm.GetUseRemoteAddress(), hcm.GetForwardClientCertDetails())
	}
	if hcm.GetRds().GetRouteConfigName() != "http.8080" {
		t.Errorf("RDS %q", hcm.GetRds().GetRouteConfigName())
	}
}

func TestResolveGatewayRef(t *testing.T) {
	for ref, want := range map[string]string{
		"gw":                                "apps/gw",
		"./gw":                              "apps/gw",
		"istio-system/gw":                   "istio-system/gw",
		"gw.istio-system":                   "istio-system/gw",
		"gw.istio-system.svc.cluster.local": "istio-system/gw",
		"mesh":                              "mesh",
	} {
		if got := resolveGatewayRef(ref, "apps"); got != want {
			t.Errorf("resolveGatewayRef(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestMatchingHostsKeepsTheNarrower(t *testing.T) {
	cases := []struct {
		server, vs, want []string
	}{
		{[]string{"*.example.com"}, []string{"a.example.com", "b.other.com"}, []string{"a.example.com"}},
		{[]string{"a.example.com", "b.example.com"}, []string{"*.example.com"}, []string{"a.example.com", "b.example.com"}},
		{[]string{"*"}, []string{"A.Example.com"}, []string{"a.example.com"}},
		{[]string{"a.example.com"}, []string{"b.example.com"}, nil},
	}
	for _, c := range cases {
		if got := matchingHosts(c.server, c.vs); !slices.Equal(got, c.want) {
			t.Errorf("matchingHosts(%v, %v) = %v, want %v", c.server, c.vs, got, c.want)
		}
	}
}

func TestCredentialSecretNames(t *testing.T) {
	for credential, want := range map[string][2]string{
		"web-cert":                  {"kubernetes://web-cert", "kubernetes://web-cert-cacert"},
		"kubernetes://ns/web-cert":  {"kubernetes://ns/web-cert", "kubernetes://ns/web-cert-cacert"},
		"builtin://":                {"default", "ROOTCA"},
		"kubernetes-gateway://ns/x": {"kubernetes-gateway://ns/x", "kubernetes-gateway://ns/x-cacert"},
	} {
		if got := [2]string{credentialSecretName(credential), credentialCASecretName(credential)}; got != want {
			t.Errorf("%q: secrets %v, want %v", credential, got, want)
		}
	}
}

func TestGatewayServerBoundToUnixSocket(t *testing.T) {
	idx := gatewayIndex(t, gatewayServices+`
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: local, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 0, name: http, protocol: HTTP}, bind: "unix:///var/run/gw.sock", hosts: ["*"]}]
`)
	res := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))
	if len(res.Listeners) != 1 {
		t.Fatalf("listeners %v, want one", listenerNames(res))
	}
	l := res.Listeners[0]
	if l.GetName() != "unix:///var/run/gw.sock_0" || l.GetAddress().GetPipe().GetPath() != "/var/run/gw.sock" {
		t.Errorf("listener %s at %v, want unix:///var/run/gw.sock_0 on the socket", l.GetName(), l.GetAddress())
	}
	if len(res.Routes) != 1 || res.Routes[0].GetName() != "http.0.unix:///var/run/gw.sock" {
		t.Errorf("routes %v, want http.0.unix:///var/run/gw.sock", res.Routes)
	}
	envoyValidate(t, envoyBinary(t), routeCheckBootstrap(res))
}
