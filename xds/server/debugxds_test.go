package server

import (
	"context"
	"strings"
	"testing"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statusv3 "github.com/envoyproxy/go-control-plane/envoy/service/status/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/certs"
)

// debugRequest sends one debug request on a new ADS stream of conn, as
// istioctl does, and returns the response or the error ending the stream.
func debugRequest(t *testing.T, conn *grpc.ClientConn, typeURL string, names ...string) (*discoveryv3.DiscoveryResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "sidecar~0.0.0.0~istioctl.istio-system~istio-system.svc.cluster.local"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	return stream.Recv()
}

// On the plaintext port, syncz lists the connected proxies with their
// states, and the stream asking is not one of them.
func TestSynczListsProxiesNotTheAsker(t *testing.T) {
	h := startServerWith(t, Options{Name: "replica-1", Version: "v9"})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()
	h.waitAcked(c.node.GetId())
	resp, err := debugRequest(t, h.dial(), TypeDebugSyncz)
	if err != nil {
		t.Fatal(err)
	}
	if id := resp.GetControlPlane().GetIdentifier(); !strings.Contains(id, `"ID":"replica-1"`) || !strings.Contains(id, `"version":"v9"`) {
		t.Errorf("control plane identifier %s", id)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("syncz lists %d proxies, want 1", len(resp.Resources))
	}
	var cc statusv3.ClientConfig
	if err := resp.Resources[0].UnmarshalTo(&cc); err != nil {
		t.Fatal(err)
	}
	if cc.GetNode().GetId() != "app-1.default" {
		t.Errorf("syncz lists %s", cc.GetNode().GetId())
	}
	if _, body := h.get("/debug/proxies"); strings.Count(body, `"id"`) != 1 {
		t.Errorf("/debug/proxies lists the debug stream:\n%s", body)
	}
}

// On the secure port a debug request needs a proven identity: one of the
// system namespace reads everything, another only the config dump of a
// proxy of its namespace. Refusals end the stream and are counted.
func TestSecureDebugNeedsAnAuthorizedIdentity(t *testing.T) {
	app := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "app"}
	system := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: DefaultSystemNamespace, ServiceAccount: "istioctl"}
	proxy := "sidecar~10.0.0.1~app-1.default~default.svc.cluster.local"
	for name, tc := range map[string]struct {
		auth    stubAuthenticator
		typeURL string
		code    codes.Code
		reason  string
	}{
		"system reads syncz":           {stubAuthenticator{id: system}, TypeDebugSyncz, codes.OK, ""},
		"namespace reads its proxy":    {stubAuthenticator{id: app}, TypeDebugConfigDump, codes.OK, ""},
		"namespace may not read syncz": {stubAuthenticator{id: app}, TypeDebugSyncz, codes.PermissionDenied, reasonDebugDenied},
		"no credential":                {stubAuthenticator{err: reasonError{"no_credential"}}, TypeDebugSyncz, codes.Unauthenticated, "no_credential"},
	} {
		t.Run(name, func(t *testing.T) {
			h := startTLSServer(t, tc.auth)
			if tc.auth.err == nil && tc.auth.id == app {
				c := newSotwClient(t, h.dialTLS(), sidecarNode(t, "app-1"))
				c.sync()
				h.waitAcked(proxy)
			}
			resp, err := debugRequest(t, h.dialTLS(), tc.typeURL, proxy)
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			if tc.code != codes.OK {
				if _, metrics := h.get("/metrics"); !strings.Contains(metrics, `isthmus_xds_auth_failures_total{reason="`+tc.reason+`"} 1`) {
					t.Errorf("refusal not counted as %s", tc.reason)
				}
				return
			}
			if resp.GetControlPlane() == nil || (tc.typeURL == TypeDebugConfigDump && len(resp.Resources) == 0) {
				t.Errorf("%s answered with %v", tc.typeURL, resp)
			}
		})
	}
}

// The config dump of a proxy has the shape of Envoy's: its clusters,
// listeners and routes at the version served, secrets by name only.
func TestDebugConfigDumpHasEnvoysShape(t *testing.T) {
	h := startServerWith(t, Options{Secrets: testSecrets(t)})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()
	h.waitAcked(c.node.GetId())
	resp, err := debugRequest(t, h.dial(), TypeDebugConfigDump, "app-1.default") // as istioctl names it
	if err != nil {
		t.Fatal(err)
	}
	var clusters adminv3.ClustersConfigDump
	var secrets adminv3.SecretsConfigDump
	for _, a := range resp.Resources {
		_ = a.UnmarshalTo(&clusters)
		_ = a.UnmarshalTo(&secrets)
	}
	if len(clusters.DynamicActiveClusters) == 0 || clusters.DynamicActiveClusters[0].VersionInfo == "" {
		t.Errorf("no clusters with their version: %v", &clusters)
	}
	for _, s := range secrets.DynamicActiveSecrets {
		if s.Name == "" || s.Secret != nil {
			t.Errorf("secret %q dumped with content", s.Name)
		}
	}
	if _, err := debugRequest(t, h.dial(), TypeDebugConfigDump, "sidecar~10.9.9.9~gone.default~default.svc.cluster.local"); err != nil {
		t.Errorf("a proxy not connected here: %v, want an empty answer", err)
	}
}
