package translate

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"
	security "istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

var inheritNamespaces = []string{"shop", "pay", "open"}

// inheritWorld is three namespaces with two mTLS services each, cart and
// orders: shop and pay scoped by Sidecars to themselves, open unscoped.
// Its configuration objects are made once, as the configuration store
// keeps them while their files do not change.
type inheritWorld struct {
	t       *testing.T
	objects []*policy.Object
}

// inheritState is one snapshot of the world: the generation of shop/cart's
// endpoints (the last one moves, as a restarted pod does), objects added
// to the configuration, and an extra service in a namespace.
type inheritState struct {
	gen        int
	extra      []*policy.Object
	newService string // namespace of an extra service, "" for none
	// wildcard adds to pay a service for *.example.com (a ServiceEntry
	// resolved by the proxies' original destination).
	wildcard bool
}

func newInheritWorld(t *testing.T) *inheritWorld {
	w := newMeshWorld(t)
	for _, ns := range inheritNamespaces {
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

func (iw *inheritWorld) build(s inheritState) *Index {
	w := newMeshWorld(iw.t)
	w.objects = append(slices.Clip(iw.objects), s.extra...)
	names := []string{"cart", "orders", "extra"}
	for n, ns := range inheritNamespaces {
		for i, name := range names {
			if name == "extra" && s.newService != ns {
				continue
			}
			svc := w.service(name+"."+ns+".svc.cluster.local", ns, []string{fmt.Sprintf("10.96.%d.%d", n, i)}, httpPort(8080))
			for e := range 3 {
				moved := 0
				if ns == "shop" && name == "cart" && e == 2 {
					moved = s.gen
				}
				w.endpoint(svc, &discovery.Endpoint{
					Address: fmt.Sprintf("10.%d.%d.%d", n, i, e+10*moved), Port: 8080, ServicePort: 8080,
					Labels:         map[string]string{"app": name, "version": fmt.Sprintf("v%d", e%2+1), "security.istio.io/tlsMode": "istio"},
					ServiceAccount: name,
				})
			}
		}
	}
	if s.wildcard {
		ext := w.service("*.example.com", "pay", nil, httpPort(80))
		ext.Resolution, ext.Location = discovery.ResolutionNone, discovery.MeshExternal
	}
	return w.index()
}

// object makes an Istio object from YAML, as the world's objects are.
func (iw *inheritWorld) object(kind policy.Kind, ns, name, spec string) *policy.Object {
	w := newMeshWorld(iw.t)
	w.object(kind, ns, name, spec)
	return w.objects[0]
}

// inheritProxies are sidecars at endpoints of every namespace, one of them
// at the shop/cart endpoint that moves.
func inheritProxies() []*model.Proxy {
	var out []*model.Proxy
	for n, ns := range inheritNamespaces {
		for s := range 2 {
			ip := fmt.Sprintf("10.%d.%d.2", n, s)
			p := sidecarProxy(ns, map[string]string{"app": "x", "version": "v1"})
			p.ID, p.IPAddresses = "sidecar~"+ip+"~w."+ns+"~"+ns+".svc.cluster.local", []string{ip}
			out = append(out, p)
		}
	}
	return out
}

// After a change, a Translator that inherits from the previous one gives
// every proxy exactly what a fresh translation gives, and the proxies of
// the namespaces the change cannot reach the very resources they had.
func TestInheritedTranslationMatchesAFreshOne(t *testing.T) {
	world := newInheritWorld(t)
	weights := func(v1, v2 int) *policy.Object {
		return world.object(policy.KindVirtualService, "pay", "cart", fmt.Sprintf(`
hosts: [cart]
http: [{route: [{destination: {host: cart, subset: v1}, weight: %d}, {destination: {host: cart, subset: v2}, weight: %d}]}]`, v1, v2))
	}
	strict := &policy.Object{Key: policy.Key{Kind: policy.KindPeerAuthentication, Namespace: "istio-system", Name: "default"},
		Spec: &security.PeerAuthentication{Mtls: &security.PeerAuthentication_MutualTLS{Mode: security.PeerAuthentication_MutualTLS_STRICT}}}
	payDisabled := peerAuthentication("pay", nil, security.PeerAuthentication_MutualTLS_DISABLE, nil)
	cartPortDisabled := peerAuthentication("pay", map[string]string{"app": "cart"}, security.PeerAuthentication_MutualTLS_STRICT,
		map[uint32]security.PeerAuthentication_MutualTLS_Mode{8080: security.PeerAuthentication_MutualTLS_DISABLE})
	external := world.object(policy.KindVirtualService, "pay", "external", `
hosts: [api.example.com]
http: [{timeout: 3s, route: [{destination: {host: api.example.com}}]}]`)
	gatewayBound := world.object(policy.KindVirtualService, "pay", "edge", `
hosts: [cart.pay.svc.cluster.local]
gateways: [istio-system/ingress]
http: [{route: [{destination: {host: cart.pay.svc.cluster.local}}]}]`)
	cases := map[string]struct {
		before, after inheritState
		kept          []string // namespaces whose proxies keep their resources
	}{
		"endpoint moves":             {inheritState{}, inheritState{gen: 1}, []string{"pay"}},
		"weights change":             {inheritState{extra: []*policy.Object{weights(80, 20)}}, inheritState{extra: []*policy.Object{weights(50, 50)}}, []string{"shop"}},
		"new service":                {inheritState{}, inheritState{newService: "pay"}, []string{"shop"}},
		"service removed":            {inheritState{newService: "shop"}, inheritState{}, []string{"pay"}},
		"mesh-wide mTLS":             {inheritState{}, inheritState{extra: []*policy.Object{strict}}, nil},
		"namespace DISABLE":          {inheritState{}, inheritState{extra: []*policy.Object{payDisabled}}, []string{"shop"}},
		"workload port DISABLE":      {inheritState{}, inheritState{extra: []*policy.Object{cartPortDisabled}}, []string{"shop"}},
		"namespace DISABLE removed":  {inheritState{extra: []*policy.Object{payDisabled}}, inheritState{}, []string{"shop"}},
		"gateway-bound VS added":     {inheritState{}, inheritState{extra: []*policy.Object{gatewayBound}}, []string{"shop"}},
		"nothing changes":            {inheritState{gen: 1}, inheritState{gen: 1}, inheritNamespaces},
		"host of a wildcard service": {inheritState{wildcard: true}, inheritState{wildcard: true, extra: []*policy.Object{external}}, []string{"shop"}},
		"endpoints and weights too":  {inheritState{extra: []*policy.Object{weights(80, 20)}}, inheritState{gen: 1, extra: []*policy.Object{weights(50, 50)}}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			prev := NewTranslator(world.build(tc.before))
			before := map[string]*Resources{}
			for _, p := range inheritProxies() {
				before[p.ID] = assertSameAsTranslate(t, prev, p)
			}
			next := NewTranslator(world.build(tc.after))
			kept := next.InheritFrom(prev)
			if name == "nothing changes" && kept != prev.Views() {
				t.Errorf("kept %d of %d views when nothing changed", kept, prev.Views())
			}
			for _, p := range inheritProxies() {
				got := assertSameAsTranslate(t, next, p)
				if kept, want := got == before[p.ID], slices.Contains(tc.kept, p.Namespace); kept != want {
					t.Errorf("proxy %s: kept its previous resources %v, want %v", p.ID, kept, want)
				}
			}
		})
	}
}

// After a mesh-wide PeerAuthentication the outbound parts are kept and the
// inbound ones built again.
func TestInheritedOutboundWithNewInboundPolicy(t *testing.T) {
	world := newInheritWorld(t)
	prev := NewTranslator(world.build(inheritState{}))
	before := map[string]*Resources{}
	for _, p := range inheritProxies() {
		before[p.ID] = assertSameAsTranslate(t, prev, p)
	}
	strict := &policy.Object{Key: policy.Key{Kind: policy.KindPeerAuthentication, Namespace: "istio-system", Name: "default"},
		Spec: &security.PeerAuthentication{Mtls: &security.PeerAuthentication_MutualTLS{Mode: security.PeerAuthentication_MutualTLS_STRICT}}}
	next := NewTranslator(world.build(inheritState{extra: []*policy.Object{strict}}))
	if next.InheritFrom(prev) == 0 {
		t.Fatal("nothing inherited across an inbound policy")
	}
	for _, p := range inheritProxies() {
		got := assertSameAsTranslate(t, next, p)
		if got.Routes[0] != before[p.ID].Routes[0] {
			t.Errorf("proxy %s: outbound routes built again", p.ID)
		}
	}
}

// Endpoints that move twice before any proxy was translated between (the
// snapshots came faster than the proxies): the views still waiting to be
// reassembled after the first move are reassembled after the second, from
// the translation before both, and every proxy gets what a fresh
// translation gives.
func TestViewsPendingReassemblyAreReassembledAfterTheNextChange(t *testing.T) {
	world := newInheritWorld(t)
	first := NewTranslator(world.build(inheritState{}))
	for _, p := range inheritProxies() {
		assertSameAsTranslate(t, first, p)
	}
	second := NewTranslator(world.build(inheritState{gen: 1}))
	second.InheritFrom(first)
	third := NewTranslator(world.build(inheritState{gen: 2}))
	third.InheritFrom(second)
	for _, p := range inheritProxies() {
		assertSameAsTranslate(t, third, p)
	}
	// shop's and open's views see shop/cart: reassembled, not built anew;
	// pay's is kept whole.
	if got := third.Reassembled(); got != 2 || third.Views() != 3 {
		t.Errorf("%d of %d views reassembled after two moves; want shop's and open's of 3", got, third.Views())
	}
}

// A view kept whole across a snapshot, then reached by an endpoint move, is
// reassembled from what it kept (built two snapshots ago), not built anew.
func TestViewKeptWholeIsReassembledAfterALaterChange(t *testing.T) {
	world := newInheritWorld(t)
	first := NewTranslator(world.build(inheritState{}))
	for _, p := range inheritProxies() {
		assertSameAsTranslate(t, first, p)
	}
	second := NewTranslator(world.build(inheritState{}))
	second.InheritFrom(first)
	for _, p := range inheritProxies() {
		assertSameAsTranslate(t, second, p)
	}
	third := NewTranslator(world.build(inheritState{gen: 1}))
	third.InheritFrom(second)
	for _, p := range inheritProxies() {
		assertSameAsTranslate(t, third, p)
	}
	if got := third.Reassembled(); got != 2 {
		t.Errorf("%d views reassembled after the move; want shop's and open's", got)
	}
}

// A proxy of an inherited view whose own inbound endpoints change is
// translated again: its view is kept, its inbound part is not.
func TestInheritedViewRebuildsAMovedWorkload(t *testing.T) {
	world := newInheritWorld(t)
	prev := NewTranslator(world.build(inheritState{}))
	// A pay proxy at the address shop/cart's endpoint leaves.
	p := sidecarProxy("pay", map[string]string{"app": "x"})
	p.ID, p.IPAddresses = "sidecar~10.0.0.2~w.pay~pay.svc.cluster.local", []string{"10.0.0.2"}
	before := assertSameAsTranslate(t, prev, p)
	next := NewTranslator(world.build(inheritState{gen: 1}))
	next.InheritFrom(prev)
	if got := assertSameAsTranslate(t, next, p); got == before {
		t.Error("the proxy whose inbound endpoint moved kept its previous resources")
	}
}

// On every golden input, a Translator that inherits across a change gives
// the golden proxy what a fresh translation gives: a moved endpoint, a
// changed VirtualService, and new inbound policies.
func TestInheritedTranslationOnGoldenInputs(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join(goldenIn, "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in %s (err %v)", goldenIn, err)
	}
	changes := map[string]func(*model.Snapshot) *model.Snapshot{
		"endpoint moves":              movedEndpoint,
		"route changes":               changedRoute,
		"inbound policies":            addedInboundPolicies,
		"mesh-wide DISABLE":           withObjects(peerAuthentication("istio-system", nil, security.PeerAuthentication_MutualTLS_DISABLE, nil)),
		"namespace DISABLE":           disabledWhereSidecars(false),
		"workload port DISABLE":       disabledWhereSidecars(true),
		"PeerAuthentications removed": withoutKind(policy.KindPeerAuthentication),
		"DestinationRule TLS":         destinationRuleTLS,
		"Sidecar scopes the proxy":    sidecarScopingProxy,
		"ServiceEntry location flips": flippedLocation,
	}
	for _, in := range inputs {
		for name, change := range changes {
			t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml")+"/"+name, func(t *testing.T) {
				idx, p := loadGoldenInput(t, in)
				prev := NewTranslator(idx)
				if _, err := prev.Translate(p); err != nil {
					t.Fatal(err)
				}
				next := NewTranslator(NewIndex(change(idx.Snapshot)))
				next.InheritFrom(prev)
				assertSameAsTranslate(t, next, p)
			})
		}
	}
}

// movedEndpoint moves the first endpoint of the first service that has one.
func movedEndpoint(snap *model.Snapshot) *model.Snapshot {
	cat := snap.Catalog
	endpoints := map[discovery.ServiceKey][]*discovery.Endpoint{}
	moved := false
	for _, svc := range cat.Services() {
		eps := slices.Clone(cat.AllEndpoints(svc.ServiceKey))
		if !moved && len(eps) > 0 && net.ParseIP(eps[0].Address) != nil {
			ep := *eps[0]
			ep.Address = "10.254.254.254"
			eps[0], moved = &ep, true
		}
		endpoints[svc.ServiceKey] = eps
	}
	next := *snap
	next.Catalog = discovery.NewCatalog(cat.Services(), endpoints).WithGateways(cat.Gateways())
	return &next
}

// changedRoute gives the first mesh VirtualService's first HTTP route a
// timeout.
func changedRoute(snap *model.Snapshot) *model.Snapshot {
	objs := slices.Clone(snap.Config.Objects())
	for i, o := range objs {
		vs, ok := o.Spec.(*networking.VirtualService)
		if !ok || len(vs.GetHttp()) == 0 {
			continue
		}
		spec := proto.Clone(vs).(*networking.VirtualService)
		spec.Http[0].Timeout = durationpb.New(7 * time.Second)
		changed := *o
		changed.Spec = spec
		objs[i] = &changed
		break
	}
	next := *snap
	next.Config = policy.NewConfig(objs)
	return &next
}

// addedInboundPolicies adds a mesh-wide STRICT PeerAuthentication and an
// AuthorizationPolicy denying DELETE in every namespace.
func addedInboundPolicies(snap *model.Snapshot) *model.Snapshot {
	objs := append(slices.Clone(snap.Config.Objects()), &policy.Object{
		Key:  policy.Key{Kind: policy.KindPeerAuthentication, Namespace: "istio-system", Name: "inherit-strict"},
		Spec: &security.PeerAuthentication{Mtls: &security.PeerAuthentication_MutualTLS{Mode: security.PeerAuthentication_MutualTLS_STRICT}},
	}, &policy.Object{
		Key: policy.Key{Kind: policy.KindAuthorizationPolicy, Namespace: "istio-system", Name: "inherit-deny"},
		Spec: &security.AuthorizationPolicy{Action: security.AuthorizationPolicy_DENY,
			Rules: []*security.Rule{{To: []*security.Rule_To{{Operation: &security.Operation{Methods: []string{"DELETE"}}}}}}},
	})
	next := *snap
	next.Config = policy.NewConfig(objs)
	return &next
}

// withObjects adds objects to a snapshot's configuration.
func withObjects(objs ...*policy.Object) func(*model.Snapshot) *model.Snapshot {
	return func(snap *model.Snapshot) *model.Snapshot {
		next := *snap
		next.Config = policy.NewConfig(append(slices.Clone(snap.Config.Objects()), objs...))
		return &next
	}
}

// withoutKind removes every object of kind from a snapshot.
func withoutKind(kind policy.Kind) func(*model.Snapshot) *model.Snapshot {
	return func(snap *model.Snapshot) *model.Snapshot {
		next := *snap
		next.Config = policy.NewConfig(slices.DeleteFunc(slices.Clone(snap.Config.Objects()),
			func(o *policy.Object) bool { return o.Kind == kind }))
		return &next
	}
}

// peerAuthentication is a PeerAuthentication named after its place, with
// an optional selector and port-level modes.
func peerAuthentication(ns string, selector map[string]string, mode security.PeerAuthentication_MutualTLS_Mode,
	ports map[uint32]security.PeerAuthentication_MutualTLS_Mode) *policy.Object {
	spec := &security.PeerAuthentication{Mtls: &security.PeerAuthentication_MutualTLS{Mode: mode}}
	name := "inherit-namespace"
	if selector != nil {
		name = "inherit-workload"
		spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: selector}
	}
	for port, m := range ports {
		if spec.PortLevelMtls == nil {
			spec.PortLevelMtls = map[uint32]*security.PeerAuthentication_MutualTLS{}
		}
		spec.PortLevelMtls[port] = &security.PeerAuthentication_MutualTLS{Mode: m}
	}
	return &policy.Object{Key: policy.Key{Kind: policy.KindPeerAuthentication, Namespace: ns, Name: name}, Spec: spec}
}

// disabledWhereSidecars turns mTLS off where the first endpoint with a
// sidecar runs: for its whole namespace, or (workload) for its labels and
// port only, the rest of the workload STRICT.
func disabledWhereSidecars(workload bool) func(*model.Snapshot) *model.Snapshot {
	return func(snap *model.Snapshot) *model.Snapshot {
		svc, ep := firstSidecarEndpoint(snap.Catalog)
		if ep == nil {
			return snap
		}
		disable := security.PeerAuthentication_MutualTLS_DISABLE
		pa := peerAuthentication(svc.Namespace, nil, disable, nil)
		if workload {
			pa = peerAuthentication(svc.Namespace, ep.Labels, security.PeerAuthentication_MutualTLS_STRICT,
				map[uint32]security.PeerAuthentication_MutualTLS_Mode{ep.Port: disable})
		}
		return withObjects(pa)(snap)
	}
}

func firstSidecarEndpoint(cat *discovery.Catalog) (*discovery.Service, *discovery.Endpoint) {
	for _, svc := range cat.Services() {
		for _, ep := range cat.AllEndpoints(svc.ServiceKey) {
			if hasSidecar(ep) {
				return svc, ep
			}
		}
	}
	return nil, nil
}

// destinationRuleTLS adds, in the root namespace, a DestinationRule
// originating ISTIO_MUTUAL to the first service, DISABLE for a subset.
func destinationRuleTLS(snap *model.Snapshot) *model.Snapshot {
	services := snap.Catalog.Services()
	if len(services) == 0 {
		return snap
	}
	return withObjects(&policy.Object{
		Key: policy.Key{Kind: policy.KindDestinationRule, Namespace: "istio-system", Name: "inherit-tls"},
		Spec: &networking.DestinationRule{Host: services[0].Hostname,
			TrafficPolicy: &networking.TrafficPolicy{Tls: &networking.ClientTLSSettings{Mode: networking.ClientTLSSettings_ISTIO_MUTUAL}},
			Subsets: []*networking.Subset{{Name: "inherit-plain", Labels: map[string]string{"inherit": "plain"},
				TrafficPolicy: &networking.TrafficPolicy{Tls: &networking.ClientTLSSettings{Mode: networking.ClientTLSSettings_DISABLE}}}}},
	})(snap)
}

// sidecarScopingProxy adds a root-namespace Sidecar that limits every
// proxy to its own namespace (a namespace's own Sidecar still wins).
func sidecarScopingProxy(snap *model.Snapshot) *model.Snapshot {
	return withObjects(&policy.Object{
		Key:  policy.Key{Kind: policy.KindSidecar, Namespace: "istio-system", Name: "inherit-scope"},
		Spec: &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*"}}}},
	})(snap)
}

// flippedLocation makes the first service MESH_EXTERNAL if it was
// internal, and the other way round, as an edited ServiceEntry does.
func flippedLocation(snap *model.Snapshot) *model.Snapshot {
	cat := snap.Catalog
	services := slices.Clone(cat.Services())
	if len(services) == 0 {
		return snap
	}
	flipped := *services[0]
	flipped.Location = discovery.MeshExternal
	if services[0].Location == discovery.MeshExternal {
		flipped.Location = discovery.MeshInternal
	}
	services[0] = &flipped
	endpoints := map[discovery.ServiceKey][]*discovery.Endpoint{}
	for _, svc := range services {
		endpoints[svc.ServiceKey] = cat.AllEndpoints(svc.ServiceKey)
	}
	next := *snap
	next.Catalog = discovery.NewCatalog(services, endpoints).WithGateways(cat.Gateways())
	return &next
}
