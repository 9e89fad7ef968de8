package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/isthmus-mesh/isthmus/xds/translate"
)

var (
	ratingsRoute = translate.RouteConfigName("", ratingsPort)
	detailsRoute = translate.RouteConfigName("", detailsPort)
)

// waitRejectionRead waits until the server has read the node's rejection
// of typeURL: the type is NACKED (a stream handles a request whole before
// it answers a change).
func (h *harness) waitRejectionRead(nodeID, typeURL string) {
	h.t.Helper()
	eventually(h.t, "the rejection of "+typeLabel(typeURL)+" read", func() bool {
		ps := h.server.proxyByID(nodeID)
		return ps != nil && h.server.proxyStatus(ps).Types[typeLabel(typeURL)].State == StateNacked
	})
}

func resourceNames(resp *discoveryv3.DeltaDiscoveryResponse) []string {
	var names []string
	for _, r := range resp.Resources {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return names
}

// until accepts responses until one of each type has arrived,
// returning the first of each.
func (c *deltaClient) until(typeURLs ...string) map[string]*discoveryv3.DeltaDiscoveryResponse {
	c.t.Helper()
	got := map[string]*discoveryv3.DeltaDiscoveryResponse{}
	for len(got) < len(typeURLs) {
		resp := c.next()
		if !slices.Contains(typeURLs, resp.TypeUrl) {
			c.t.Fatalf("unexpected %s response: %v", typeLabel(resp.TypeUrl), resourceNames(resp))
		}
		if got[resp.TypeUrl] == nil {
			got[resp.TypeUrl] = resp
		}
		c.accept(resp)
	}
	return got
}

func TestDeltaNamedSubscriptionsFollowTheClient(t *testing.T) {
	h, node, c := syncedDeltaClient(t)

	// Unsubscribing from a load assignment needs no answer; subscribing
	// again brings it back, alone.
	c.subscribe(resource.EndpointType, []string{reviewsCluster})
	c.subscribe(resource.EndpointType, []string{ratingsCluster, reviewsCluster})
	eds := c.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if got := resourceNames(eds); !slices.Equal(got, []string{ratingsCluster}) || len(eds.RemovedResources) > 0 {
		t.Fatalf("resubscription answered with %v, removed %v; want only %s", got, eds.RemovedResources, ratingsCluster)
	}
	c.accept(eds)
	h.waitAcked(node.Id)

	// A new service: its cluster and listener arrive, and the client's new
	// EDS and RDS names are answered with their resources alone.
	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.1"}, details: true}.snapshot())
	got := c.until(resource.ClusterType, resource.ListenerType, resource.EndpointType, resource.RouteType)
	for typeURL, want := range map[string]string{
		resource.ClusterType: detailsCluster, resource.EndpointType: detailsCluster,
		resource.ListenerType: translate.ListenerName("0.0.0.0", detailsPort), resource.RouteType: detailsRoute,
	} {
		if names := resourceNames(got[typeURL]); !slices.Equal(names, []string{want}) {
			t.Errorf("%s sent %v for the new service, want only %s", typeLabel(typeURL), names, want)
		}
	}
	h.waitAcked(node.Id)

	// A removed service is removed from every type, the subscribed
	// load assignment and route configuration included.
	h.server.Update(world{version: 3, endpoints: []string{"10.1.0.1"}, details: true, noRatings: true}.snapshot())
	got = c.until(resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType)
	for typeURL, want := range map[string]string{
		resource.ClusterType: ratingsCluster, resource.EndpointType: ratingsCluster,
		resource.ListenerType: translate.ListenerName("0.0.0.0", ratingsPort), resource.RouteType: ratingsRoute,
	} {
		resp := got[typeURL]
		if !slices.Equal(resp.RemovedResources, []string{want}) || len(resp.Resources) > 0 {
			t.Errorf("%s removed %v and sent %v, want only %s removed", typeLabel(typeURL), resp.RemovedResources, resourceNames(resp), want)
		}
	}
}

// loadAssignmentNames lists the cluster names of load assignments.
func loadAssignmentNames(t *testing.T, resources []*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, a := range resources {
		names = append(names, clusterNameOf(t, a))
	}
	slices.Sort(names)
	return names
}

func routeConfigNames(t *testing.T, resources []*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, a := range resources {
		rc := &routev3.RouteConfiguration{}
		if err := a.UnmarshalTo(rc); err != nil {
			t.Fatal(err)
		}
		names = append(names, rc.Name)
	}
	slices.Sort(names)
	return names
}

func sorted(names ...string) []string { return slices.Sorted(slices.Values(names)) }

func clusterNameOf(t *testing.T, a *anypb.Any) string {
	t.Helper()
	cla := &endpointv3.ClusterLoadAssignment{}
	if err := a.UnmarshalTo(cla); err != nil {
		t.Fatal(err)
	}
	return cla.ClusterName
}

// acceptUntilAcked accepts c's responses until the proxy has acknowledged
// every type's version: once it holds what it names, a type it subscribes
// to by name may still be sent a new version with nothing in it.
func (h *harness) acceptUntilAcked(c *sotwClient, nodeID string) {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for !h.acked(nodeID) {
		select {
		case resp := <-c.recv:
			c.accept(resp)
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			h.t.Fatal("gave up waiting for the proxy to acknowledge its resources")
		}
	}
}

// syncTo accepts responses until the client holds exactly the wanted EDS
// and RDS names.
func (c *sotwClient) syncTo(eds, rds []string) {
	c.t.Helper()
	holds := func() bool {
		return slices.Equal(c.holding(resource.EndpointType), sorted(eds...)) &&
			slices.Equal(c.holding(resource.RouteType), sorted(rds...))
	}
	for !holds() {
		c.accept(c.next())
	}
}

func TestSotWNamedSubscriptionsFollowTheClient(t *testing.T) {
	h, node, c := syncedSotwClient(t)
	version := c.last[resource.EndpointType].VersionInfo

	// Narrowing the subscription needs no answer; widening it again is
	// answered with the load assignment added, at the same version: EDS is
	// not full state, the one held is not sent again.
	c.subscribe(resource.EndpointType, []string{reviewsCluster})
	c.subscribe(resource.EndpointType, []string{ratingsCluster, reviewsCluster})
	eds := c.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if got := loadAssignmentNames(t, eds.Resources); !slices.Equal(got, []string{ratingsCluster}) || eds.VersionInfo != version {
		t.Fatalf("resubscription answered with %v at version %s; want %s at %s", got, eds.VersionInfo, ratingsCluster, version)
	}
	c.accept(eds)
	if got := c.holding(resource.EndpointType); !slices.Equal(got, sorted(ratingsCluster, reviewsCluster)) {
		t.Fatalf("the client holds %v after the resubscription", got)
	}
	h.waitAcked(node.Id)

	// A new service and then a removed one: the subscriptions follow CDS
	// and LDS, and EDS and RDS answer exactly the names subscribed.
	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.1"}, details: true}.snapshot())
	c.syncTo([]string{detailsCluster, ratingsCluster, reviewsCluster}, []string{detailsRoute, ratingsRoute, reviewsRoute})
	h.acceptUntilAcked(c, node.Id)
	h.server.Update(world{version: 3, endpoints: []string{"10.1.0.1"}, details: true, noRatings: true}.snapshot())
	c.syncTo([]string{detailsCluster, reviewsCluster}, []string{detailsRoute, reviewsRoute})
	h.acceptUntilAcked(c, node.Id)
	if got := edsNames(t, c.last[resource.ClusterType].Resources); !slices.Equal(got, sorted(detailsCluster, reviewsCluster)) {
		t.Errorf("clusters %v after the removal", got)
	}
}

// A rejected version is not sent again: the next response is the next
// change. The rejection's request leaves a watch open instead of an
// answer, and a later change to another type is what arrives next.
func TestRejectedVersionIsNotResent(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(protocolName(delta), func(t *testing.T) {
			h := startServer(t, meshTranslate)
			node := sidecarNode(t, "app-1")
			h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
			next, nack := nackingClient(t, h, node, delta)

			h.server.Update(world{version: 2, endpoints: []string{"10.1.0.9"}}.snapshot())
			eds := next()
			wantType(t, eds, resource.EndpointType)
			nack()
			h.waitRejectionRead(node.Id, resource.EndpointType)

			h.server.Update(world{version: 3, endpoints: []string{"10.1.0.9"}, timeout: time.Second}.snapshot())
			wantType(t, next(), resource.RouteType)
			h.server.Update(world{version: 4, endpoints: []string{"10.1.0.10"}, timeout: time.Second}.snapshot())
			wantType(t, next(), resource.EndpointType)
		})
	}
}

// nackingClient syncs a client of either protocol and returns functions
// that read the type of the next response (ACKing it) and reject the last
// response read.
func nackingClient(t *testing.T, h *harness, node *corev3.Node, delta bool) (next func() string, nack func()) {
	if delta {
		c := newDeltaClient(t, h.dial(), node)
		c.sync()
		h.waitAcked(node.Id)
		var last *discoveryv3.DeltaDiscoveryResponse
		return func() string {
				last = c.next()
				if last.TypeUrl != resource.EndpointType {
					c.accept(last)
				}
				return last.TypeUrl
			}, func() {
				c.nack(last, "rejected by test")
			}
	}
	c := newSotwClient(t, h.dial(), node)
	c.sync()
	h.waitAcked(node.Id)
	var last *discoveryv3.DiscoveryResponse
	return func() string {
			last = c.next()
			if last.TypeUrl != resource.EndpointType {
				c.accept(last)
			}
			return last.TypeUrl
		}, func() {
			c.nack(last, "rejected by test")
		}
}

// With the default translation (a translate.Translator per push), proxies
// of either protocol get their configuration and its changes; two sidecars
// whose configuration is alike are served the same versions.
func TestDefaultTranslationServesProxies(t *testing.T) {
	h := startServer(t, nil)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	sotwNode, deltaNode := sidecarNode(t, "app-1"), sidecarNode(t, "app-2")
	sotw := newSotwClient(t, h.dial(), sotwNode)
	sotw.sync()
	delta := newDeltaClient(t, h.dial(), deltaNode)
	delta.sync()
	h.waitAcked(sotwNode.Id)
	h.waitAcked(deltaNode.Id)
	if got := endpointIPs(t, sotw.last[resource.EndpointType].Resources); !slices.Equal(got, []string{"10.1.0.1"}) {
		t.Fatalf("reviews endpoints %v, want [10.1.0.1]", got)
	}
	a, b := h.server.proxyByID(sotwNode.Id).servedResources(), h.server.proxyByID(deltaNode.Id).servedResources()
	for _, typeURL := range servedTypes {
		if a.versions[typeURL] != b.versions[typeURL] {
			t.Errorf("%s versions %s and %s for alike sidecars", typeLabel(typeURL), a.versions[typeURL], b.versions[typeURL])
		}
	}

	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.2"}}.snapshot())
	eds := sotw.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if got := endpointIPs(t, eds.Resources); !slices.Equal(got, []string{"10.1.0.2"}) {
		t.Errorf("SotW reviews endpoints %v after the change, want [10.1.0.2]", got)
	}
	deltaEDS := delta.next()
	wantType(t, deltaEDS.TypeUrl, resource.EndpointType)
	if got := resourceNames(deltaEDS); !slices.Equal(got, []string{reviewsCluster}) {
		t.Errorf("delta EDS sent %v after the change, want only %s", got, reviewsCluster)
	}
}

// Over state of the world, load assignments and route configurations are
// not full state: an endpoint change sends the one load assignment that
// changed, not every one the proxy subscribes to.
func TestSotWEndpointChangeSendsOneLoadAssignment(t *testing.T) {
	h := startServer(t, meshTranslate)
	node := sidecarNode(t, "app-1")
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}, details: true}.snapshot())
	c := newSotwClient(t, h.dial(), node)
	c.sync()
	h.acceptUntilAcked(c, node.Id)

	h.server.Update(world{version: 2, endpoints: []string{"10.1.0.1", "10.1.0.2"}, details: true}.snapshot())
	eds := c.next()
	wantType(t, eds.TypeUrl, resource.EndpointType)
	if got := loadAssignmentNames(t, eds.Resources); !slices.Equal(got, []string{reviewsCluster}) {
		t.Fatalf("the endpoint change sent %v, want only %s", got, reviewsCluster)
	}
	c.accept(eds)
	h.acceptUntilAcked(c, node.Id)
	if got := c.holding(resource.EndpointType); !slices.Equal(got, sorted(detailsCluster, ratingsCluster, reviewsCluster)) {
		t.Errorf("the proxy holds %v", got)
	}
}

// A state-of-the-world request naming many resources (an EDS
// acknowledgement in a large mesh) is read without decoding its names when
// they are the ones the stream subscribes to: a request with as many
// names but not the same ones still changes the subscription, and so does
// one that repeats a name in place of another.
func TestSotWManyNamedSubscriptionsFollowTheClient(t *testing.T) {
	h, node, c := syncedSotwClient(t)

	absent := make([]string, encodedNamesFrom)
	for i := range absent {
		absent[i] = fmt.Sprintf("outbound|9080||absent-%d.default.svc.cluster.local", i)
	}
	both := append([]string{ratingsCluster, reviewsCluster}, absent...)
	c.subscribe(resource.EndpointType, both)
	h.acceptUntilAcked(c, node.Id)
	for _, step := range []struct {
		name  string
		names []string
	}{
		{"reviews swapped for another absent name", append([]string{ratingsCluster, "outbound|9080||absent-x.default.svc.cluster.local"}, absent...)},
		{"both again", both},
		{"ratings named twice in place of reviews", append([]string{ratingsCluster, ratingsCluster}, absent...)},
		{"both again, in another order", append(append([]string{}, absent...), reviewsCluster, ratingsCluster)},
	} {
		c.subscribe(resource.EndpointType, step.names)
		want := []string{ratingsCluster}
		if slices.Contains(step.names, reviewsCluster) {
			want = sorted(ratingsCluster, reviewsCluster)
			eds := c.next()
			if got := loadAssignmentNames(t, eds.Resources); !slices.Equal(got, []string{reviewsCluster}) {
				t.Fatalf("%s: answered with %v, want %s", step.name, got, reviewsCluster)
			}
			c.accept(eds)
		}
		if got := c.holding(resource.EndpointType); !slices.Equal(got, want) {
			t.Fatalf("%s: the client holds %v, want %v", step.name, got, want)
		}
		h.acceptUntilAcked(c, node.Id)
	}
}

// A delta stream's first request naming many resources finds the set
// another stream subscribes to without decoding the names; what the same
// request unsubscribes still applies.
func TestDeltaFirstSubscriptionToKnownNames(t *testing.T) {
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	names := []string{ratingsCluster, reviewsCluster}
	for i := range encodedNamesFrom {
		names = append(names, fmt.Sprintf("outbound|9080||absent-%d.default.svc.cluster.local", i))
	}
	for i, step := range []struct {
		unsubscribe []string
		want        []string
	}{
		{nil, sorted(ratingsCluster, reviewsCluster)},
		{nil, sorted(ratingsCluster, reviewsCluster)},
		{[]string{reviewsCluster}, []string{ratingsCluster}},
	} {
		c := newDeltaClient(t, h.dial(), sidecarNode(t, fmt.Sprintf("app-%d", i)))
		shuffled := slices.Clone(names)
		slices.Reverse(shuffled[i:])
		c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNamesSubscribe: shuffled, ResourceNamesUnsubscribe: step.unsubscribe})
		eds := c.next()
		wantType(t, eds.TypeUrl, resource.EndpointType)
		if got := resourceNames(eds); !slices.Equal(got, step.want) {
			t.Errorf("stream %d (unsubscribing %v) was sent %v, want %v", i, step.unsubscribe, got, step.want)
		}
	}
}

// syncedSotwClient starts a server serving version 1 of the world and a
// state-of-the-world client that holds it and acknowledged it.
func syncedSotwClient(t *testing.T) (*harness, *corev3.Node, *sotwClient) {
	t.Helper()
	h, node := serverOfWorldOne(t)
	c := newSotwClient(t, h.dial(), node)
	c.sync()
	h.waitAcked(node.Id)
	return h, node, c
}

// syncedDeltaClient is syncedSotwClient over delta xDS.
func syncedDeltaClient(t *testing.T) (*harness, *corev3.Node, *deltaClient) {
	t.Helper()
	h, node := serverOfWorldOne(t)
	c := newDeltaClient(t, h.dial(), node)
	c.sync()
	h.waitAcked(node.Id)
	return h, node, c
}

// serverOfWorldOne starts a server serving version 1 of the world, and
// names the sidecar that will connect to it.
func serverOfWorldOne(t *testing.T) (*harness, *corev3.Node) {
	t.Helper()
	h := startServer(t, meshTranslate)
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	return h, sidecarNode(t, "app-1")
}
