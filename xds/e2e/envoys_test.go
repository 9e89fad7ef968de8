package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// startEnvoy starts an Envoy for node against the shared isthmus; when the
// test ends it is stopped and checked to have rejected no update. With
// listen set, it waits until that listener accepts connections.
func (s *scenario) startEnvoy(t *testing.T, name string, node localmesh.Node, listen string) *localmesh.Envoy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	e, err := localmesh.StartSidecar(ctx, s.m.isthmus, name, node, s.m.logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	t.Cleanup(func() { checkEnvoyAccepted(t, name, e) })
	if listen == "" {
		return e
	}
	if err := e.WaitListener(ctx, listen); err != nil {
		dump, _ := e.ConfigDump(ctx, "resource=dynamic_listeners")
		t.Fatalf("%s: %v\nlisteners: %.2000s\nisthmus log:\n%s", name, err, dump, s.m.isthmus.LogTail(20))
	}
	return e
}

// startClient starts the sidecar of a client workload whose egress
// listener is on ip:9080 (see clientSidecarYAML) and an HTTP client for it.
func (s *scenario) startClient(t *testing.T, name, ip string, node localmesh.Node) *proxy {
	t.Helper()
	addr := net.JoinHostPort(ip, strconv.Itoa(servicePort))
	e := s.startEnvoy(t, name, node, addr)
	c, err := localmesh.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &proxy{name: name, bindIP: ip, envoy: e, client: c}
}

// gatewayNode is the node of a gateway proxy (a "router") labelled
// istio=NAME, at ip.
func gatewayNode(name, ip string) localmesh.Node {
	return localmesh.Node{
		ID:   fmt.Sprintf("router~%s~%s.default~default.svc.cluster.local", ip, name),
		Meta: map[string]string{"NAMESPACE": "default", "LABELS": fmt.Sprintf(`{"istio":%q}`, name)},
	}
}

// clientNode is the node of a sidecar without capture labelled app=NAME.
func clientNode(name, ip string) localmesh.Node {
	return localmesh.SidecarNode(name, "default", ip, map[string]string{"app": name}, false)
}
