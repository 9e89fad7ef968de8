package translate

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// A Translator must give every golden proxy exactly what Translate gives.
func TestTranslatorMatchesTranslateOnGoldenInputs(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s (err %v)", goldenIn, err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			idx, p := loadGoldenInput(t, in)
			assertSameAsTranslate(t, NewTranslator(idx), p)
		})
	}
}

// Proxies of other views share units (clusters of service ports, routes of
// virtual hosts) with the golden proxy: one Translator that has translated
// proxies in every namespace of the input, with other labels, network,
// locality and kind first, must still give each of them, and the golden
// proxy, exactly what Translate gives.
func TestSharedUnitsMatchTranslateOnGoldenInputs(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s (err %v)", goldenIn, err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			idx, golden := loadGoldenInput(t, in)
			tr := NewTranslator(idx)
			proxies := append(proxyVariants(idx, golden), golden)
			for _, p := range proxies {
				if _, err := tr.Translate(p); err != nil {
					t.Fatalf("proxy %s: %v", p.ID, err)
				}
			}
			for _, p := range proxies {
				assertSameAsTranslate(t, tr, p)
			}
		})
	}
}

// proxyVariants are copies of p in every namespace of idx's services and
// configuration, and copies with no labels, another network, another
// locality, and the other proxy kind.
func proxyVariants(idx *Index, p *model.Proxy) []*model.Proxy {
	namespaces := map[string]bool{}
	for _, svc := range idx.Snapshot.Catalog.Services() {
		namespaces[svc.Namespace] = true
	}
	for _, o := range idx.Snapshot.Config.Objects() {
		namespaces[o.Namespace] = true
	}
	var out []*model.Proxy
	variant := func(name string, change func(*model.Proxy)) {
		v := *p
		v.ID = p.ID + "-" + name
		change(&v)
		out = append(out, &v)
	}
	for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
		variant("ns-"+ns, func(v *model.Proxy) { v.Namespace, v.DNSDomain = ns, ns+".svc.cluster.local" })
	}
	variant("unlabelled", func(v *model.Proxy) { v.Labels = nil })
	variant("network", func(v *model.Proxy) { v.Network = "elsewhere" })
	variant("locality", func(v *model.Proxy) { v.Locality = "far-away/zone-z/sub" })
	variant("kind", func(v *model.Proxy) {
		v.Type = model.RouterProxy
		if p.Type == model.RouterProxy {
			v.Type = model.SidecarProxy
		}
	})
	return out
}

// assertSameAsTranslate checks tr.Translate(p) against Translate and
// returns the Translator's result.
func assertSameAsTranslate(t *testing.T, tr *Translator, p *model.Proxy) *Resources {
	t.Helper()
	want, err := Translate(tr.Index(), p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, kind := range resourceKinds(want) {
		gotList := resourceKinds(got)[i].list
		if len(gotList) != len(kind.list) {
			t.Fatalf("%s: %d from the Translator, %d from Translate", kind.name, len(gotList), len(kind.list))
		}
		for j := range kind.list {
			if !proto.Equal(gotList[j], kind.list[j]) {
				t.Errorf("%s[%d] differs:\n%v\nwant\n%v", kind.name, j, gotList[j], kind.list[j])
			}
		}
	}
	return got
}

// sharingWorld is one namespace with two HTTP services, reviews and a DNS
// service, a VirtualService sending proxies labelled app=canary to reviews
// v2, and a Sidecar selecting app=legacy workloads.
func sharingWorld(t *testing.T) *Index {
	w := newMeshWorld(t)
	reviews := w.service("reviews.default.svc.cluster.local", "default", []string{"10.96.0.10"}, httpPort(9080))
	for _, ep := range []struct{ ip, version string }{{"10.0.0.5", "v1"}, {"10.0.0.6", "v2"}} {
		w.endpoint(reviews, &discovery.Endpoint{Address: ep.ip, Port: 9080, ServicePort: 9080,
			Labels: map[string]string{"version": ep.version}})
	}
	dns := w.service("api.example.com", "default", nil, httpPort(443))
	dns.Resolution = discovery.ResolutionDNS
	w.endpoint(dns, &discovery.Endpoint{Address: "api.example.com", Port: 443, ServicePort: 443})
	w.object(policy.KindDestinationRule, "default", "reviews", `
host: reviews
subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`)
	w.object(policy.KindVirtualService, "default", "reviews", `
hosts: [reviews]
http:
- match: [{sourceLabels: {app: canary}}]
  route: [{destination: {host: reviews, subset: v2}}]
- route: [{destination: {host: reviews, subset: v1}}]`)
	w.object(policy.KindSidecar, "default", "legacy", `
workloadSelector: {labels: {app: legacy}}
outboundTrafficPolicy: {mode: REGISTRY_ONLY}`)
	return w.index()
}

// proxyAt is a sidecar in namespace default at ip with labels.
func proxyAt(ip string, labels map[string]string) *model.Proxy {
	p := sidecarProxy("default", labels)
	p.ID = "sidecar~" + ip + "~pod-" + ip + ".default~default.svc.cluster.local"
	p.IPAddresses = []string{ip}
	return p
}

func TestTranslatorSharesWhatProxiesWithTheSameViewHave(t *testing.T) {
	tr := NewTranslator(sharingWorld(t))
	// Two workloads of different versions, both endpoints of reviews:9080
	// only, whose labels no VirtualService or Sidecar tells apart; and a
	// third that is an endpoint of nothing.
	v1 := assertSameAsTranslate(t, tr, proxyAt("10.0.0.5", map[string]string{"app": "web", "version": "v1"}))
	v2 := assertSameAsTranslate(t, tr, proxyAt("10.0.0.6", map[string]string{"app": "web", "version": "v2"}))
	client := assertSameAsTranslate(t, tr, proxyAt("10.0.0.9", map[string]string{"app": "web"}))
	if tr.Views() != 1 {
		t.Errorf("%d views translated, want 1", tr.Views())
	}
	if v1 != v2 {
		t.Error("proxies alike inbound and outbound are not given the same resources")
	}
	if len(v1.Clusters) != 8 || len(client.Clusters) != 7 {
		t.Fatalf("%d and %d clusters, want 8 (api.example.com, reviews and its 2 subsets, 3 fixed, inbound|9080||) and 7",
			len(v1.Clusters), len(client.Clusters))
	}
	if &v1.Routes[0] != &client.Routes[0] || &v1.Endpoints[0] != &client.Endpoints[0] {
		t.Error("routes or endpoints lists not shared")
	}
	for _, c := range client.Clusters {
		if !slices.Contains(v1.Clusters, c) {
			t.Errorf("cluster %s is not the same object for all proxies", c.Name)
		}
	}
}

func TestTranslatorSeparatesProxiesThatConfigurationTellsApart(t *testing.T) {
	tr := NewTranslator(sharingWorld(t))
	web := assertSameAsTranslate(t, tr, proxyAt("10.0.0.5", map[string]string{"app": "web"}))
	canary := assertSameAsTranslate(t, tr, proxyAt("10.0.0.7", map[string]string{"app": "canary"}))
	legacy := assertSameAsTranslate(t, tr, proxyAt("10.0.0.8", map[string]string{"app": "legacy"}))
	v6 := proxyAt("fd00::5", map[string]string{"app": "web"})
	assertSameAsTranslate(t, tr, v6)
	if tr.Views() != 4 {
		t.Errorf("%d views translated, want 4 (web, canary, legacy, IPv6)", tr.Views())
	}
	if proto.Equal(findRouteConfig(t, web, "9080"), findRouteConfig(t, canary, "9080")) {
		t.Error("the canary proxy has the routes of the others despite its VirtualService match")
	}
	if proto.Equal(web.Listeners[len(web.Listeners)-1], legacy.Listeners[len(legacy.Listeners)-1]) {
		t.Error("the legacy proxy's Sidecar (REGISTRY_ONLY) did not change its virtualOutbound listener")
	}
}

// Policies that select workloads by label (here a PeerAuthentication) tell
// proxies apart even before translation reads them.
func TestTranslatorSeparatesProxiesPoliciesSelect(t *testing.T) {
	w := newMeshWorld(t)
	w.objects = append(w.objects, &policy.Object{
		Key: policy.Key{Kind: policy.KindPeerAuthentication, Namespace: "default", Name: "v2"},
		Spec: &security.PeerAuthentication{
			Selector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"version": "v2"}},
			Mtls:     &security.PeerAuthentication_MutualTLS{Mode: security.PeerAuthentication_MutualTLS_STRICT},
		},
	})
	tr := NewTranslator(w.index())
	assertSameAsTranslate(t, tr, proxyAt("10.0.0.5", map[string]string{"app": "web", "version": "v1"}))
	assertSameAsTranslate(t, tr, proxyAt("10.0.0.6", map[string]string{"app": "web", "version": "v2"}))
	assertSameAsTranslate(t, tr, proxyAt("10.0.0.7", map[string]string{"app": "db", "version": "v2"}))
	if tr.Views() != 2 {
		t.Errorf("%d views translated, want 2 (selected by the PeerAuthentication or not)", tr.Views())
	}
}

// namespaceWorld gives proxies of namespaces a, b and c different views of
// one service: reviews (namespace a, subsets v1 and v2, consistent hashing by
// a header) has a mesh-wide DestinationRule and one local to namespace b
// (other subsets and TLS); a VirtualService in a, exported to a only, sends
// to v2; one in the root namespace sends proxies of namespace c to v1.
func namespaceWorld(t *testing.T) *Index {
	w := newMeshWorld(t)
	reviews := w.service("reviews.a.svc.cluster.local", "a", []string{"10.96.0.20"}, httpPort(9080))
	for _, ep := range []struct{ ip, version string }{{"10.0.1.5", "v1"}, {"10.0.1.6", "v2"}} {
		w.endpoint(reviews, &discovery.Endpoint{Address: ep.ip, Port: 9080, ServicePort: 9080,
			Labels: map[string]string{"version": ep.version}})
	}
	w.object(policy.KindDestinationRule, "a", "reviews", `
host: reviews.a.svc.cluster.local
trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`)
	w.object(policy.KindDestinationRule, "b", "reviews-from-b", `
host: reviews.a.svc.cluster.local
exportTo: ["."]
trafficPolicy: {tls: {mode: SIMPLE}}
subsets: [{name: v2, labels: {version: v2}}]`)
	w.object(policy.KindVirtualService, "a", "reviews-in-a", `
hosts: [reviews.a.svc.cluster.local]
exportTo: ["."]
http: [{route: [{destination: {host: reviews.a.svc.cluster.local, subset: v2}}]}]`)
	w.object(policy.KindVirtualService, policy.RootNamespace, "reviews-from-c", `
hosts: [reviews.a.svc.cluster.local]
http:
- match: [{sourceNamespace: c}]
  route: [{destination: {host: reviews.a.svc.cluster.local, subset: v1}}]`)
	return w.index()
}

// Units are shared only between proxies whose namespaces see the same
// rules: whichever namespace's proxy comes first, each gets what Translate
// gives it.
func TestSharedUnitsFollowWhatEachNamespaceSees(t *testing.T) {
	idx := namespaceWorld(t)
	namespaces := []string{"a", "b", "c", "d"}
	for first := range namespaces {
		tr := NewTranslator(idx)
		order := append(slices.Clone(namespaces[first:]), namespaces[:first]...)
		for _, ns := range order {
			assertSameAsTranslate(t, tr, sidecarProxy(ns, map[string]string{"app": "client"}))
		}
		if got := tr.units.len(); got < 2 {
			t.Errorf("%d cluster units for proxies of namespaces %v, want at least 2 (namespace b sees its own rule)", got, order)
		}
	}
}

// Views that give a service the same domains and routes share its virtual
// host: in a mesh without Sidecars, every namespace but the service's own,
// whose proxies also reach it by its short names.
func TestViewsShareVirtualHostsTheyGiveAlike(t *testing.T) {
	w := newMeshWorld(t)
	w.service("reviews.a.svc.cluster.local", "a", []string{"10.96.0.20"}, httpPort(9080))
	tr := NewTranslator(w.index())
	host := func(ns string) *routev3.VirtualHost {
		res := assertSameAsTranslate(t, tr, sidecarProxy(ns, nil))
		for _, vh := range findRouteConfig(t, res, "9080").GetVirtualHosts() {
			if vh.GetName() == "reviews.a.svc.cluster.local:9080" {
				return vh
			}
		}
		t.Fatalf("no virtual host of reviews for a proxy of namespace %s", ns)
		return nil
	}
	fromX, fromY, fromA := host("x"), host("y"), host("a")
	if fromX != fromY {
		t.Error("namespaces x and y see reviews alike but hold two virtual hosts")
	}
	if fromA == fromX || !slices.Contains(fromA.GetDomains(), "reviews") || slices.Contains(fromX.GetDomains(), "reviews") {
		t.Errorf("reviews's domains: %v in its own namespace, %v elsewhere", fromA.GetDomains(), fromX.GetDomains())
	}
}
