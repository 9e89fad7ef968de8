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

	withNetwork := func(n localmesh.Node, network, sa string) localmesh.Node {
		n.Meta["NETWORK"], n.Meta["SERVICE_ACCOUNT"] = network, sa
		return n
	}
	s.startEnvoy(t, server, withNetwork(clientNode(server, serverIP), remoteNetwork, server),
		net.JoinHostPort(serverIP, strconv.Itoa(servicePort)))
	gateway := s.startEnvoy(t, gw, withNetwork(gatewayNode(gw, s.m.eastWestIP), remoteNetwork, gw),
		net.JoinHostPort(s.m.eastWestIP, strconv.Itoa(eastWestPort)))
	p := s.startClient(t, client, clientIP, withNetwork(clientNode(client, clientIP), localNetwork, client))
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Upstream == app.Name })

	reqs := app.Requests()
	xfcc := reqs[len(reqs)-1].Header.Get("X-Forwarded-Client-Cert")
	if want := "URI=spiffe://cluster.local/ns/default/sa/" + client; !strings.Contains(xfcc, want) {
		t.Errorf("x-forwarded-client-cert %q, want %s: mTLS must pass through the gateway", xfcc, want)
	}
	eds, err := p.envoy.ConfigDump(ctx, "include_eds")
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
