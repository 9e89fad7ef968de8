package translate

import (
	"fmt"
	"slices"
	"testing"

	security "istio.io/api/security/v1beta1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// inheritWorld is three namespaces with two mTLS services each: shop and
// pay scoped by Sidecars to themselves, open unscoped. build gives the
// snapshot's index with shop/cart's endpoints at generation gen (the last
// one moves, as a restarted pod does), over the very same configuration
// objects.
type inheritWorld struct {
	t       *testing.T
	objects []*policy.Object
}

func newInheritWorld(t *testing.T) *inheritWorld {
	w := newMeshWorld(t)
	for _, ns := range []string{"shop", "pay", "open"} {
		w.object(policy.KindDestinationRule, ns, "all", `
host: "*.`+ns+`.svc.cluster.local"
subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]`)
	}
	for _, ns := range []string{"shop", "pay"} {
		w.object(policy.KindSidecar, ns, "default", `
egress: [{hosts: ["./*"]}]`)
	}
	return &inheritWorld{t: t, objects: w.objects}
}

func (iw *inheritWorld) build(gen int, extra ...*policy.Object) *Index {
	w := newMeshWorld(iw.t)
	w.objects = append(slices.Clip(iw.objects), extra...)
	for n, ns := range []string{"shop", "pay", "open"} {
		for s, name := range []string{"cart", "orders"} {
			svc := w.service(name+"."+ns+".svc.cluster.local", ns, []string{fmt.Sprintf("10.96.%d.%d", n, s)}, httpPort(8080))
			for e := range 3 {
				last := 0
				if ns == "shop" && name == "cart" && e == 2 {
					last = gen
				}
				w.endpoint(svc, &discovery.Endpoint{
					Address: fmt.Sprintf("10.%d.%d.%d", n, s, e+10*last), Port: 8080, ServicePort: 8080,
					Labels:         map[string]string{"app": name, "version": fmt.Sprintf("v%d", e%2+1), "security.istio.io/tlsMode": "istio"},
					ServiceAccount: name,
				})
			}
		}
	}
	return w.index()
}

// inheritProxies are sidecars at endpoints of every namespace, one of them
// at the shop/cart endpoint that moves, and an unscoped proxy.
func inheritProxies() []*model.Proxy {
	var out []*model.Proxy
	for n, ns := range []string{"shop", "pay", "open"} {
		for s := range 2 {
			ip := fmt.Sprintf("10.%d.%d.2", n, s)
			p := sidecarProxy(ns, map[string]string{"app": "x", "version": "v1"})
			p.ID, p.IPAddresses = "sidecar~"+ip+"~w."+ns+"~"+ns+".svc.cluster.local", []string{ip}
			out = append(out, p)
		}
	}
	return out
}

// After an endpoint change, a Translator that inherits from the previous
// one gives every proxy exactly what a fresh translation gives, and gives
// the proxies that cannot see the changed service the very resources they
// had.
func TestInheritedTranslationMatchesAFreshOne(t *testing.T) {
	world := newInheritWorld(t)
	prev := NewTranslator(world.build(0))
	before := map[string]*Resources{}
	for _, p := range inheritProxies() {
		before[p.ID] = assertSameAsTranslate(t, prev, p)
	}
	next := NewTranslator(world.build(1))
	changed, ok := prev.Index().Catalog().EndpointChanges(next.Index().Catalog())
	if !ok || len(changed) != 1 {
		t.Fatalf("endpoint changes %v (ok %v), want shop/cart's only", changed, ok)
	}
	next.Inherit(prev, changed)
	for _, p := range inheritProxies() {
		got := assertSameAsTranslate(t, next, p)
		kept := got == before[p.ID]
		if wantKept := p.Namespace == "pay"; kept != wantKept {
			t.Errorf("proxy %s in %s: kept its previous resources %v, want %v", p.ID, p.Namespace, kept, wantKept)
		}
	}
}

// A proxy of an inherited view whose own inbound endpoints change is
// translated again: its view is kept, its inbound part is not.
func TestInheritedViewRebuildsAMovedWorkload(t *testing.T) {
	world := newInheritWorld(t)
	prev := NewTranslator(world.build(0))
	// A pay proxy at the address shop/cart's endpoint leaves.
	p := sidecarProxy("pay", map[string]string{"app": "x"})
	p.ID, p.IPAddresses = "sidecar~10.0.0.2~w.pay~pay.svc.cluster.local", []string{"10.0.0.2"}
	before := assertSameAsTranslate(t, prev, p)
	next := NewTranslator(world.build(1))
	changed, _ := prev.Index().Catalog().EndpointChanges(next.Index().Catalog())
	next.Inherit(prev, changed)
	if got := assertSameAsTranslate(t, next, p); got == before {
		t.Error("the proxy whose inbound endpoint moved kept its previous resources")
	}
}

// After a mesh-wide PeerAuthentication, a Translator that inherits the
// outbound parts gives every proxy what a fresh translation gives, sharing
// the previous outbound resources and building the inbound ones again.
func TestInheritedOutboundMatchesAFreshTranslation(t *testing.T) {
	world := newInheritWorld(t)
	prev := NewTranslator(world.build(0))
	before := map[string]*Resources{}
	for _, p := range inheritProxies() {
		before[p.ID] = assertSameAsTranslate(t, prev, p)
	}
	strict := &policy.Object{Key: policy.Key{Kind: policy.KindPeerAuthentication, Namespace: "istio-system", Name: "default"},
		Spec: &security.PeerAuthentication{Mtls: &security.PeerAuthentication_MutualTLS{Mode: security.PeerAuthentication_MutualTLS_STRICT}}}
	next := NewTranslator(world.build(0, strict))
	next.InheritOutbound(prev, nil)
	for _, p := range inheritProxies() {
		got := assertSameAsTranslate(t, next, p)
		if got.Routes[0] != before[p.ID].Routes[0] {
			t.Errorf("proxy %s: outbound routes built again", p.ID)
		}
		if slices.Equal(got.Listeners, before[p.ID].Listeners) {
			t.Errorf("proxy %s: inbound listeners not built again under STRICT mTLS", p.ID)
		}
	}
}
