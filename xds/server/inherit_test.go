package server

import (
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// scopedWorld is two namespaces, shop and pay, each with one HTTP service
// and a Sidecar scoping its proxies to it. Its configuration objects are
// made once, as the configuration store keeps them while files do not
// change.
type scopedWorld struct {
	config *policy.Config
}

func newScopedWorld(payTimeoutRule bool) scopedWorld {
	var objs []*policy.Object
	for _, ns := range []string{"shop", "pay"} {
		objs = append(objs, &policy.Object{
			Key:  policy.Key{Kind: policy.KindSidecar, Namespace: ns, Name: "default"},
			Spec: &networking.Sidecar{Egress: []*networking.IstioEgressListener{{Hosts: []string{"./*"}}}},
		})
	}
	if payTimeoutRule {
		objs = append(objs, &policy.Object{
			Key:  policy.Key{Kind: policy.KindVirtualService, Namespace: "pay", Name: "api"},
			Spec: &networking.VirtualService{Hosts: []string{"api"}, Http: []*networking.HTTPRoute{{Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: "api"}}}, Retries: &networking.HTTPRetry{Attempts: 7}}}},
		})
	}
	return scopedWorld{config: policy.NewConfig(objs)}
}

// snapshot has shop's cart service at the given endpoints.
func (w scopedWorld) snapshot(version uint64, cartEndpoints ...string) *model.Snapshot {
	cart := &discovery.Service{ServiceKey: discovery.ServiceKey{Hostname: "cart.shop.svc.cluster.local", Namespace: "shop"},
		Ports: []discovery.Port{{Name: "http", Number: 8080, Protocol: discovery.ProtocolHTTP}}}
	api := &discovery.Service{ServiceKey: discovery.ServiceKey{Hostname: "api.pay.svc.cluster.local", Namespace: "pay"},
		Ports: []discovery.Port{{Name: "http", Number: 8080, Protocol: discovery.ProtocolHTTP}}}
	return &model.Snapshot{Version: version, Config: w.config, Catalog: discovery.NewCatalog(
		[]*discovery.Service{cart, api},
		map[discovery.ServiceKey][]*discovery.Endpoint{
			cart.ServiceKey: endpointsAt(8080, cartEndpoints...),
			api.ServiceKey:  endpointsAt(8080, "10.2.0.1"),
		})}
}

func scopedNode(t *testing.T, ns, ip string) *corev3.Node {
	t.Helper()
	md, err := model.NodeMetadata(map[string]any{"NAMESPACE": ns, "SERVICE_ACCOUNT": "app", "LABELS": map[string]any{"app": "app"}})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: "sidecar~" + ip + "~app." + ns + "~" + ns + ".svc.cluster.local", Metadata: md}
}

func (h *harness) servedTo(nodeID string) *proxyResources {
	h.server.mu.Lock()
	ps := h.server.proxies[nodeID]
	h.server.mu.Unlock()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.served
}

// An endpoint or routing change reaches the proxies that see the service,
// while the proxies of other views keep the very resources they are
// served: nothing is translated or prepared again for them.
func TestEndpointChangeLeavesOtherViewsAlone(t *testing.T) {
	h := startServer(t, nil)
	w := newScopedWorld(false)
	h.server.Update(w.snapshot(1, "10.1.0.1"))
	shopNode, payNode := scopedNode(t, "shop", "10.1.0.9"), scopedNode(t, "pay", "10.2.0.9")
	shop, pay := newSotwClient(t, h.dial(), shopNode), newSotwClient(t, h.dial(), payNode)
	shop.sync()
	pay.sync()
	h.waitAcked(shopNode.Id)
	h.waitAcked(payNode.Id)
	shopBefore, payBefore := h.servedTo(shopNode.Id), h.servedTo(payNode.Id)

	views := func(outcome string) float64 {
		return metricValue(t, h.server.metrics.views.WithLabelValues(outcome))
	}
	keptBefore, reassembledBefore := views("kept"), views("reassembled")
	h.server.Update(w.snapshot(2, "10.1.0.1", "10.1.0.2"))
	eds := shop.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if got := clusterEndpoints(t, eds.Resources, "outbound|8080||cart.shop.svc.cluster.local"); !slices.Equal(got, []string{"10.1.0.1", "10.1.0.2"}) {
		t.Fatalf("cart endpoints %v after the change", got)
	}
	shop.accept(eds)
	h.waitAcked(shopNode.Id)
	if h.servedTo(shopNode.Id) == shopBefore {
		t.Error("the shop proxy, which sees cart, kept its resources")
	}
	if h.servedTo(payNode.Id) != payBefore {
		t.Error("the pay proxy, which cannot see cart, was given new resources")
	}
	h.waitPushed(2)
	if kept, reassembled := views("kept")-keptBefore, views("reassembled")-reassembledBefore; kept != 1 || reassembled != 1 {
		t.Errorf("push counted %v views kept and %v reassembled, want pay's kept and shop's reassembled with cart's new clusters", kept, reassembled)
	}

	// A VirtualService in pay, with every object decoded again: pay's
	// proxy is given new resources, shop's keeps its own.
	shopBefore = h.servedTo(shopNode.Id)
	h.server.Update(newScopedWorld(true).snapshot(3, "10.1.0.1", "10.1.0.2"))
	h.waitPushed(3)
	if h.servedTo(payNode.Id) == payBefore {
		t.Error("a VirtualService in pay left the pay proxy's resources alone")
	}
	if h.servedTo(shopNode.Id) != shopBefore {
		t.Error("a VirtualService in pay gave the shop proxy new resources")
	}
}

// waitPushed waits until snapshot version has been pushed to every proxy.
func (h *harness) waitPushed(version uint64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(h.t, h.server.metrics.snapshotVersion) < float64(version) {
		if time.Now().After(deadline) {
			h.t.Fatalf("snapshot %d not pushed after 10s", version)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clusterEndpoints lists the addresses of cluster's load assignment among
// resources.
func clusterEndpoints(t *testing.T, resources []*anypb.Any, cluster string) []string {
	t.Helper()
	var ips []string
	for _, a := range resources {
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(cla); err != nil {
			t.Fatal(err)
		}
		if cla.ClusterName != cluster {
			continue
		}
		for _, l := range cla.Endpoints {
			for _, e := range l.LbEndpoints {
				ips = append(ips, e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
			}
		}
	}
	slices.Sort(ips)
	return ips
}
