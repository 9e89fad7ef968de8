package translate

import (
	"slices"
	"sort"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// listenerWorld has an HTTP service, a TCP service with a VIP and a TLS
// service without one.
func listenerWorld(t *testing.T) *meshWorld {
	w := newMeshWorld(t)
	w.service("reviews.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(9080))
	w.service("db.default.svc.cluster.local", "default", []string{"10.96.0.20"}, tcpPort(5432))
	w.service("api.example.com", "default", nil, tlsPort(443))
	return w
}

// rdsNames returns the route configurations the listeners' HTTP connection
// managers ask for.
func rdsNames(t *testing.T, res *Resources) []string {
	var out []string
	for _, l := range res.Listeners {
		for _, fc := range append(l.GetFilterChains(), l.GetDefaultFilterChain()) {
			for _, f := range fc.GetFilters() {
				if f.GetName() == wellknown.HTTPConnectionManager {
					if name := hcmOf(t, f).GetRds().GetRouteConfigName(); name != "" {
						out = append(out, name)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestRedirectCaptureListeners(t *testing.T) {
	res := listenerWorld(t).translate(sidecarProxy("default", nil))
	want := []string{"0.0.0.0_443", "0.0.0.0_9080", "10.96.0.20_5432", "virtualInbound", "virtualOutbound"}
	if got := listenerNames(res); !slices.Equal(got, want) {
		t.Fatalf("listeners = %v, want %v", got, want)
	}

	http := findListener(t, res, "0.0.0.0_9080")
	if http.GetBindToPort().GetValue() || http.GetBindToPort() == nil {
		t.Error("captured outbound listeners must not bind (bind_to_port false)")
	}
	if len(http.GetFilterChains()) != 1 || http.GetFilterChains()[0].GetFilterChainMatch() != nil {
		t.Fatalf("HTTP listener chains = %v", http.GetFilterChains())
	}
	hcm := hcmOf(t, http.GetFilterChains()[0].GetFilters()[0])
	if hcm.GetRds().GetRouteConfigName() != "9080" || hcm.GetStatPrefix() != "outbound_0.0.0.0_9080" {
		t.Errorf("HCM rds %q stat prefix %q", hcm.GetRds().GetRouteConfigName(), hcm.GetStatPrefix())
	}
	var filters []string
	for _, f := range hcm.GetHttpFilters() {
		filters = append(filters, f.GetName())
	}
	if !slices.Equal(filters, []string{wellknown.Fault, wellknown.CORS, wellknown.Router}) {
		t.Errorf("HTTP filters = %v", filters)
	}

	vo := findListener(t, res, "virtualOutbound")
	if !vo.GetUseOriginalDst().GetValue() || vo.GetAddress().GetSocketAddress().GetPortValue() != 15001 {
		t.Errorf("virtualOutbound = %v", vo)
	}
	if got := tcpProxyOf(t, vo.GetDefaultFilterChain().GetFilters()[0]).GetCluster(); got != PassthroughCluster {
		t.Errorf("virtualOutbound passes unknown traffic to %q", got)
	}
}

func TestRoutesExistForEveryRouteNameListenersUse(t *testing.T) {
	w := listenerWorld(t)
	w.service("web.other.svc.cluster.local", "other", nil, httpPort(8080), httpPort(9080))
	for _, p := range []*model.Proxy{sidecarProxy("default", nil), noneModeProxy()} {
		res := w.translate(p)
		if got, want := rdsNames(t, res), routeNames(res); !slices.Equal(got, want) {
			t.Errorf("%s: listeners ask for routes %v, routes built are %v", p.InterceptionMode, got, want)
		}
	}
}

func TestTCPServiceListener(t *testing.T) {
	res := listenerWorld(t).translate(sidecarProxy("default", nil))
	l := findListener(t, res, "10.96.0.20_5432")
	if len(l.GetFilterChains()) != 1 {
		t.Fatalf("chains = %v", l.GetFilterChains())
	}
	tp := tcpProxyOf(t, l.GetFilterChains()[0].GetFilters()[0])
	if tp.GetCluster() != "outbound|5432||db.default.svc.cluster.local" {
		t.Errorf("tcp proxy cluster = %q", tp.GetCluster())
	}
}

func TestTCPWeightedVirtualService(t *testing.T) {
	w := listenerWorld(t)
	w.object(policy.KindVirtualService, "default", "db", `
hosts: [db]
tcp:
- match: [{port: 5432}]
  route:
  - destination: {host: db, subset: primary}
    weight: 75
  - destination: {host: db, subset: replica}
    weight: 25`)
	l := findListener(t, w.translate(sidecarProxy("default", nil)), "10.96.0.20_5432")
	tp := tcpProxyOf(t, l.GetFilterChains()[0].GetFilters()[0])
	clusters := tp.GetWeightedClusters().GetClusters()
	if len(clusters) != 2 || clusters[0].GetName() != "outbound|5432|primary|db.default.svc.cluster.local" ||
		clusters[0].GetWeight() != 75 || clusters[1].GetWeight() != 25 {
		t.Errorf("weighted clusters = %v", clusters)
	}
	if tp.GetStatPrefix() != "db.default" {
		t.Errorf("stat prefix = %q", tp.GetStatPrefix())
	}
}

func TestTLSServiceWithoutVIPIsMatchedBySNI(t *testing.T) {
	w := listenerWorld(t)
	w.service("other.example.com", "default", nil, tlsPort(443))
	l := findListener(t, w.translate(sidecarProxy("default", nil)), "0.0.0.0_443")
	var names [][]string
	for _, fc := range l.GetFilterChains() {
		names = append(names, fc.GetFilterChainMatch().GetServerNames())
	}
	if len(names) != 2 || names[0][0] != "api.example.com" || names[1][0] != "other.example.com" {
		t.Errorf("server names = %v", names)
	}
	if !hasListenerFilter(l, wellknown.TlsInspector) {
		t.Error("SNI matching needs the TLS inspector")
	}
	if l.GetDefaultFilterChain().GetName() != passthroughFilterChain {
		t.Errorf("unmatched TLS should pass through, default chain = %v", l.GetDefaultFilterChain())
	}
}

func TestTLSRouteBySNI(t *testing.T) {
	w := listenerWorld(t)
	w.object(policy.KindVirtualService, "default", "api", `
hosts: [api.example.com]
tls:
- match: [{port: 443, sniHosts: [api.example.com]}]
  route:
  - destination: {host: api.example.com, subset: a}
    weight: 50
  - destination: {host: api.example.com, subset: b}
    weight: 50`)
	l := findListener(t, w.translate(sidecarProxy("default", nil)), "0.0.0.0_443")
	if len(l.GetFilterChains()) != 1 {
		t.Fatalf("chains = %v", l.GetFilterChains())
	}
	fc := l.GetFilterChains()[0]
	if !slices.Equal(fc.GetFilterChainMatch().GetServerNames(), []string{"api.example.com"}) {
		t.Errorf("server names = %v", fc.GetFilterChainMatch().GetServerNames())
	}
	if got := len(tcpProxyOf(t, fc.GetFilters()[0]).GetWeightedClusters().GetClusters()); got != 2 {
		t.Errorf("want 2 weighted clusters, got %d", got)
	}
}

func TestHTTPAndTCPOnOnePortAreSniffed(t *testing.T) {
	w := newMeshWorld(t)
	w.service("web.default.svc.cluster.local", "default", nil, httpPort(8000))
	w.service("raw.default.svc.cluster.local", "default", nil, tcpPort(8000))
	l := findListener(t, w.translate(sidecarProxy("default", nil)), "0.0.0.0_8000")
	if !hasListenerFilter(l, wellknown.HTTPInspector) {
		t.Error("a listener shared by HTTP and TCP needs the HTTP inspector")
	}
	http := l.GetFilterChains()[0]
	if !slices.Equal(http.GetFilterChainMatch().GetApplicationProtocols(), plaintextHTTPProtocols) {
		t.Errorf("HTTP chain match = %v", http.GetFilterChainMatch())
	}
	if got := tcpProxyOf(t, l.GetDefaultFilterChain().GetFilters()[0]).GetCluster(); got != "outbound|8000||raw.default.svc.cluster.local" {
		t.Errorf("other traffic goes to %q", got)
	}
}

func hasListenerFilter(l *listenerv3.Listener, name string) bool {
	for _, f := range l.GetListenerFilters() {
		if f.GetName() == name {
			return true
		}
	}
	return false
}

// noneModeProxy is a sidecar whose traffic is not captured.
func noneModeProxy() *model.Proxy {
	p := sidecarProxy("default", nil)
	p.InterceptionMode = model.InterceptNone
	return p
}

func TestInterceptionNoneBindsOnLocalhost(t *testing.T) {
	res := listenerWorld(t).translate(noneModeProxy())
	want := []string{"127.0.0.1_443", "127.0.0.1_5432", "127.0.0.1_9080"}
	if got := listenerNames(res); !slices.Equal(got, want) {
		t.Fatalf("listeners = %v, want %v (no capture listeners)", got, want)
	}
	l := findListener(t, res, "127.0.0.1_9080")
	if l.GetBindToPort() != nil {
		t.Error("uncaptured listeners bind for real")
	}
	if got := hcmOf(t, l.GetFilterChains()[0].GetFilters()[0]).GetRds().GetRouteConfigName(); got != "127.0.0.1_9080" {
		t.Errorf("route name = %q", got)
	}
	findRouteConfig(t, res, "127.0.0.1_9080")
}

func TestSidecarEgressCaptureNoneWithBind(t *testing.T) {
	w := listenerWorld(t)
	w.service("ratings.default.svc.cluster.local", "default", nil, httpPort(9080), httpPort(8080))
	w.object(policy.KindSidecar, "default", "default", `
egress:
- port: {number: 9080, protocol: HTTP, name: http}
  bind: 127.0.0.2
  captureMode: NONE
  hosts: [./reviews.default.svc.cluster.local]
- hosts: ["*/*"]`)
	res := w.translate(sidecarProxy("default", nil))
	l := findListener(t, res, "127.0.0.2_9080")
	if l.GetBindToPort() != nil {
		t.Error("a captureMode NONE egress listener binds for real")
	}
	rc := findRouteConfig(t, res, "127.0.0.2_9080")
	var hosts []string
	for _, vh := range rc.GetVirtualHosts() {
		hosts = append(hosts, vh.GetName())
	}
	if !slices.Equal(hosts, []string{"reviews.default.svc.cluster.local:9080", "allow_any"}) {
		t.Errorf("egress listener virtual hosts = %v, want only the admitted service", hosts)
	}
	// The catch-all egress listener still serves the other ports, captured.
	if findListener(t, res, "0.0.0.0_8080").GetBindToPort().GetValue() {
		t.Error("catch-all egress listeners stay captured")
	}
	findVirtualHost(t, findRouteConfig(t, res, "8080"), "ratings.default.svc.cluster.local:8080")
	// Like Istio, the bound listener does not take the captured one's place.
	findVirtualHost(t, findRouteConfig(t, res, "9080"), "reviews.default.svc.cluster.local:9080")
}

func TestInboundRedirect(t *testing.T) {
	w := newMeshWorld(t)
	self := w.service("client.default.svc.cluster.local", "default", []string{"10.96.0.30"}, httpPort(80), tcpPort(5000))
	w.endpoint(self, &discovery.Endpoint{Address: "10.0.0.5", Port: 8080, ServicePort: 80})
	w.endpoint(self, &discovery.Endpoint{Address: "10.0.0.5", Port: 5000, ServicePort: 5000})
	w.endpoint(self, &discovery.Endpoint{Address: "10.0.0.9", Port: 7777, ServicePort: 80})
	vi := findListener(t, w.translate(sidecarProxy("default", nil)), "virtualInbound")

	if vi.GetAddress().GetSocketAddress().GetPortValue() != 15006 || !hasListenerFilter(vi, wellknown.OriginalDestination) {
		t.Errorf("virtualInbound = %v", vi)
	}
	byPort := map[uint32]*listenerv3.FilterChain{}
	var passthrough *listenerv3.FilterChain
	for _, fc := range vi.GetFilterChains() {
		if port := fc.GetFilterChainMatch().GetDestinationPort(); port != nil {
			byPort[port.GetValue()] = fc
		} else {
			passthrough = fc
		}
	}
	if len(byPort) != 3 || byPort[7777] != nil {
		t.Fatalf("chains by destination port = %v; want 8080, 5000 and the 15006 blackhole", byPort)
	}
	rc := hcmOf(t, byPort[8080].GetFilters()[0]).GetRouteConfig()
	if got := rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster(); got != "inbound|8080||" {
		t.Errorf("HTTP port routes to %q", got)
	}
	if got := tcpProxyOf(t, byPort[5000].GetFilters()[0]).GetCluster(); got != "inbound|5000||" {
		t.Errorf("TCP port goes to %q", got)
	}
	if got := tcpProxyOf(t, byPort[15006].GetFilters()[0]).GetCluster(); got != BlackHoleCluster {
		t.Errorf("traffic to 15006 itself goes to %q", got)
	}
	if got := tcpProxyOf(t, passthrough.GetFilters()[0]).GetCluster(); got != InboundPassthrough {
		t.Errorf("other ports go to %q", got)
	}
}

func TestInboundSidecarIngressWithoutCapture(t *testing.T) {
	w := newMeshWorld(t)
	w.object(policy.KindSidecar, "default", "default", `
ingress:
- port: {number: 9080, protocol: HTTP, name: http}
  defaultEndpoint: 127.0.0.1:8080
egress: [{hosts: ["./*"]}]`)
	res := w.translate(noneModeProxy())
	l := findListener(t, res, "0.0.0.0_9080")
	if l.GetBindToPort() != nil || hasListenerFilter(l, wellknown.OriginalDestination) {
		t.Errorf("ingress listener should bind for real without original destination: %v", l)
	}
	rc := hcmOf(t, l.GetFilterChains()[0].GetFilters()[0]).GetRouteConfig()
	if got := rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetCluster(); got != "inbound|9080||" {
		t.Errorf("ingress routes to %q", got)
	}
	if slices.Contains(listenerNames(res), "virtualInbound") {
		t.Error("no virtualInbound without capture")
	}
}

func TestReservedPortsAreNotBoundWithoutCapture(t *testing.T) {
	w := newMeshWorld(t)
	w.service("admin.default.svc.cluster.local", "default", nil, httpPort(15000))
	w.service("web.default.svc.cluster.local", "default", nil, httpPort(80))
	p := noneModeProxy()
	p.Metadata["UNPRIVILEGED_POD"] = "true"
	if got := listenerNames(w.translate(p)); len(got) != 0 {
		t.Errorf("an unprivileged uncaptured proxy cannot bind 80 or 15000, got %v", got)
	}
}

func TestReservedPortsGetNoOutboundListener(t *testing.T) {
	w := newMeshWorld(t)
	w.service("odd.default.svc.cluster.local", "default", []string{"10.96.0.40"}, tcpPort(15001), httpPort(15006))
	if got := listenerNames(w.translate(sidecarProxy("default", nil))); !slices.Equal(got, []string{"virtualInbound", "virtualOutbound"}) {
		t.Errorf("listeners = %v; service ports on the capture ports must not get listeners", got)
	}
}

func TestTProxyCaptureListenersAreTransparent(t *testing.T) {
	p := sidecarProxy("default", nil)
	p.InterceptionMode = model.InterceptTProxy
	res := listenerWorld(t).translate(p)
	for _, name := range []string{"virtualOutbound", "virtualInbound"} {
		if !findListener(t, res, name).GetTransparent().GetValue() {
			t.Errorf("%s should be transparent under TPROXY", name)
		}
	}
	if findListener(t, listenerWorld(t).translate(sidecarProxy("default", nil)), "virtualInbound").GetTransparent() != nil {
		t.Error("REDIRECT capture listeners are not transparent")
	}
}
