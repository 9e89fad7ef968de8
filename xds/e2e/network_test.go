package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// The remote network of the multi-network test and its east-west gateway's
// port (Istio's AUTO_PASSTHROUGH port).
const (
	remoteNetwork = "gcp"
	localNetwork  = "aws"
	eastWestPort  = 15443
)

// TestMultiNetworkThroughEastWestGateway: a client sidecar on network aws
// reaches a workload on network gcp through gcp's east-west gateway, as
// Istio's multi-network mesh does: the client's EDS holds the gateway, not
// the workload; the client's mTLS (SNI outbound_.PORT_._.HOST) passes
// through the gateway untouched, so the workload's sidecar sees the
// client's own identity.
func TestMultiNetworkThroughEastWestGateway(t *testing.T) {
	s := newScenario(t, "network", "v1")
	app := s.upstreams["v1"]
	serverIP, err := localmesh.RandomLoopbackIP(servicePort)
	if err != nil {
		t.Fatal(err)
	}
	clientIP, err := localmesh.RandomLoopbackIP(servicePort)
	if err != nil {
		t.Fatal(err)
	}
	server, client, gw := s.name+"-server", s.name+"-client", s.name+"-eastwest"
	s.apply(t, s.networkYAML(server, serverIP, client, clientIP, gw, app.Addr)...)

	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	start := func(name string, node localmesh.Node, listen string) *localmesh.Envoy {
		t.Helper()
		e, err := localmesh.StartSidecar(ctx, s.m.isthmus, name, node, s.m.logDir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		t.Cleanup(func() { checkEnvoyAccepted(t, name, e) })
		if err := e.WaitListener(ctx, listen); err != nil {
			dump, _ := e.ConfigDump(ctx, "resource=dynamic_listeners")
			t.Fatalf("%s: %v\n%.2000s", name, err, dump)
		}
		return e
	}
	withNetwork := func(n localmesh.Node, network, sa string) localmesh.Node {
		n.Meta["NETWORK"], n.Meta["SERVICE_ACCOUNT"] = network, sa
		return n
	}
	start(server, withNetwork(localmesh.SidecarNode(server, "default", serverIP, map[string]string{"app": server}, false), remoteNetwork, server),
		net.JoinHostPort(serverIP, strconv.Itoa(servicePort)))
	gwNode := localmesh.Node{ID: fmt.Sprintf("router~%s~%s.default~default.svc.cluster.local", s.m.eastWestIP, gw),
		Meta: map[string]string{"NAMESPACE": "default", "LABELS": fmt.Sprintf(`{"istio":%q}`, gw)}}
	gateway := start(gw, withNetwork(gwNode, remoteNetwork, gw), net.JoinHostPort(s.m.eastWestIP, strconv.Itoa(eastWestPort)))
	clientAddr := net.JoinHostPort(clientIP, strconv.Itoa(servicePort))
	clientEnvoy := start(client, withNetwork(localmesh.SidecarNode(client, "default", clientIP, map[string]string{"app": client}, false), localNetwork, client), clientAddr)

	c, err := localmesh.NewClient(clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := &proxy{name: client, bindIP: clientIP, envoy: clientEnvoy, client: c}
	s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Upstream == app.Name })

	reqs := app.Requests()
	xfcc := reqs[len(reqs)-1].Header.Get("X-Forwarded-Client-Cert")
	if want := "URI=spiffe://cluster.local/ns/default/sa/" + client; !strings.Contains(xfcc, want) {
		t.Errorf("x-forwarded-client-cert %q, want %s: mTLS must pass through the gateway", xfcc, want)
	}
	eds, err := clientEnvoy.ConfigDump(ctx, "include_eds")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(eds), s.m.eastWestIP) || strings.Contains(string(eds), `"`+serverIP+`"`) {
		t.Errorf("client endpoints should name the gateway %s and not the workload %s", s.m.eastWestIP, serverIP)
	}
	stats, err := gateway.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := stats.Matching("downstream_cx_total").NonZero(); len(n) == 0 {
		t.Errorf("the east-west gateway saw no connection")
	}
}

// networkYAML declares the service with its one workload on the remote
// network, the workload's and the client's Sidecars, and the east-west
// gateway passing mesh mTLS through.
func (s *scenario) networkYAML(server, serverIP, client, clientIP, gw, appAddr string) []string {
	return []string{
		s.selectedServiceYAML(server),
		sidecarWorkloadYAML(server, serverIP, remoteNetwork),
		serverSidecarYAML(server, serverIP, appAddr),
		clientSidecarYAML(client, clientIP),
		fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %[1]s, namespace: default}
spec:
  selector: {istio: %[1]s}
  servers:
  - port: {number: %[2]d, name: tls, protocol: TLS}
    bind: %[3]s
    hosts: ["*.local"]
    tls: {mode: AUTO_PASSTHROUGH}`, gw, eastWestPort, s.m.eastWestIP),
	}
}
