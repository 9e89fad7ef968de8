package translate

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
