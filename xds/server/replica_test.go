package server

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// A proxy that reconnects to another replica serving the same snapshot
// (delta xDS, telling what it holds in initial_resource_versions) is sent
// none of the clusters, endpoints, listeners and routes it already has:
// versions are content hashes, the same in every replica.
func TestReconnectingToAnotherReplicaResendsNothingHeld(t *testing.T) {
	first, other, node := twoReplicas(t)
	c := newDeltaClient(t, first.dial(), node)
	c.sync()

	again := newDeltaClient(t, other.dial(), node)
	for _, typeURL := range []string{resource.ClusterType, resource.ListenerType, resource.EndpointType, resource.RouteType} {
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, InitialResourceVersions: map[string]string{}}
		for name, r := range c.resources[typeURL] {
			req.InitialResourceVersions[name] = r.Version
			if typeURL == resource.EndpointType || typeURL == resource.RouteType {
				req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, name)
			}
		}
		again.send(req)
	}
	deadline := time.After(time.Second)
	for {
		select {
		case resp := <-again.recv:
			if len(resp.Resources) > 0 || len(resp.RemovedResources) > 0 {
				t.Errorf("the other replica sent %s: %d resources, %d removals; want none (the proxy holds them all)",
					resp.TypeUrl, len(resp.Resources), len(resp.RemovedResources))
			}
			again.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce})
		case err := <-again.ended:
			t.Fatalf("stream ended: %v", err)
		case <-deadline:
			wantHeldAcknowledged(t, other, node.Id)
			return
		}
	}
}

// The same over state of the world: a proxy reconnecting to another replica
// with the versions it holds is sent none of its resources again.
func TestSotWReconnectingToAnotherReplicaResendsNothingHeld(t *testing.T) {
	first, other, node := twoReplicas(t)
	c := newSotwClient(t, first.dial(), node)
	c.sync()

	again := newSotwClient(t, other.dial(), node)
	for _, typeURL := range []string{resource.ClusterType, resource.ListenerType, resource.EndpointType, resource.RouteType} {
		again.send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: c.names[typeURL], VersionInfo: c.last[typeURL].GetVersionInfo()})
	}
	deadline := time.After(time.Second)
	for {
		select {
		case resp := <-again.recv:
			t.Errorf("the other replica sent %s: %d resources; want nothing (the proxy holds this version)", resp.TypeUrl, len(resp.Resources))
		case err := <-again.ended:
			t.Fatalf("stream ended: %v", err)
		case <-deadline:
			wantHeldAcknowledged(t, other, node.Id)
			return
		}
	}
}

// wantHeldAcknowledged checks that the replica a proxy reconnected to
// shows what the proxy holds as acknowledged, though it sent none of it.
func wantHeldAcknowledged(t *testing.T, h *harness, nodeID string) {
	t.Helper()
	if !h.acked(nodeID) {
		ps := h.server.proxyByID(nodeID)
		t.Errorf("the other replica does not show the proxy's types acknowledged: %+v", h.server.proxyStatus(ps).Types)
	}
}

// twoReplicas starts two servers serving the same snapshot, and names the
// sidecar that will connect to them.
func twoReplicas(t *testing.T) (first, other *harness, node *corev3.Node) {
	t.Helper()
	snap := world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot()
	first, other = startServer(t, meshTranslate), startServer(t, meshTranslate)
	first.server.Update(snap)
	other.server.Update(snap)
	return first, other, sidecarNode(t, "app-1")
}
