package dataplane

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// The service the client calls, as the Isthmus scenario declares it.
const (
	serviceNamespace = "bench"
	serviceName      = "server"
	serviceHost      = serviceName + "." + serviceNamespace + ".svc.cluster.local"
	// servicePort is the service port, the client sidecar's egress listener
	// port and the server sidecar's ingress listener port.
	servicePort = 9080
)

// sidecarIPs are the loopback addresses the two sidecars listen on.
type sidecarIPs struct {
	client string // the client sidecar's egress listener
	server string // the server sidecar's inbound listener
}

// pickSidecarIPs chooses two random 127.0.0.0/8 addresses with servicePort
// free, so concurrent runs do not collide.
func pickSidecarIPs() (sidecarIPs, error) {
	client, err := localmesh.RandomLoopbackIP(servicePort)
	if err != nil {
		return sidecarIPs{}, err
	}
	for {
		server, err := localmesh.RandomLoopbackIP(servicePort)
		if err != nil {
			return sidecarIPs{}, err
		}
		if server != client {
			return sidecarIPs{client: client, server: server}, nil
		}
	}
}

// listenAddr is "IP:servicePort".
func listenAddr(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(servicePort)) }

// isthmusMeshYAML is the Istio configuration of the Isthmus scenario:
//
//   - the service, with one WorkloadEntry whose address and port are the
//     server sidecar's inbound listener, so the client sidecar's cluster
//     sends to the server sidecar rather than to the application;
//   - the client's Sidecar: an HTTP egress listener bound on its own
//     address (captureMode NONE) admitting the namespace's services;
//   - the server's Sidecar: an HTTP ingress listener bound on its own
//     address (captureMode NONE) forwarding to the application, and no
//     egress listener ("~/*" admits nothing).
func isthmusMeshYAML(ips sidecarIPs, appPort int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  hosts:
  - %[3]s
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: %[4]d
    name: http
    protocol: HTTP
  workloadSelector:
    labels:
      app: server
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  address: %[6]s
  ports:
    http: %[4]d
  labels:
    app: server
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client
  namespace: %[2]s
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - port:
      number: %[4]d
      protocol: HTTP
      name: http
    bind: %[5]s
    captureMode: NONE
    hosts:
    - "./*"
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: server
  namespace: %[2]s
spec:
  workloadSelector:
    labels:
      app: server
  ingress:
  - port:
      number: %[4]d
      protocol: HTTP
      name: http
    bind: %[6]s
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:%[7]d
  egress:
  - hosts:
    - "~/*"
`, serviceName, serviceNamespace, serviceHost, servicePort, ips.client, ips.server, appPort)
}

// startIsthmusPath writes the scenario's configuration, starts `isthmus
// serve` on it and the two sidecars it configures, and waits until both
// sidecars listen.
func startIsthmusPath(ctx context.Context, env *environment) (*path, error) {
	ips, err := pickSidecarIPs()
	if err != nil {
		return nil, err
	}
	configDir := filepath.Join(env.workDir, "isthmus-config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return nil, fmt.Errorf("isthmus scenario: %w", err)
	}
	if err := localmesh.WriteFileAtomic(configDir, "mesh.yaml", []byte(isthmusMeshYAML(ips, env.app.port()))); err != nil {
		return nil, err
	}
	is, err := localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: env.isthmusBin, ConfigDir: configDir, LogDir: env.logDir})
	if err != nil {
		return nil, err
	}
	p := &path{close: is.Close}
	if err := p.addIsthmusSidecars(ctx, env, is, ips); err != nil {
		p.close()
		return nil, fmt.Errorf("%w\nisthmus log:\n%s", err, is.LogTail(20))
	}
	return p, nil
}

// addIsthmusSidecars starts the server sidecar, then the client sidecar,
// and records the path's target and hops.
func (p *path) addIsthmusSidecars(ctx context.Context, env *environment, is *localmesh.Isthmus, ips sidecarIPs) error {
	server, err := startIsthmusSidecar(ctx, env, is, "server", ips.server)
	if err != nil {
		return err
	}
	p.own(server)
	client, err := startIsthmusSidecar(ctx, env, is, "client", ips.client)
	if err != nil {
		return err
	}
	p.own(client)
	p.target = target{URL: "http://" + listenAddr(ips.client) + "/", Host: serviceHost}
	p.hops = []hop{
		{name: "client sidecar listener", envoy: client, stat: "http.outbound_" + listenerStatName(ips.client) + ".downstream_rq_total"},
		{name: "client sidecar cluster", envoy: client, stat: "cluster.outbound|" + strconv.Itoa(servicePort) + "||" + serviceHost + ".upstream_rq_total"},
		{name: "server sidecar listener", envoy: server, stat: "http.inbound_" + listenerStatName(ips.server) + ".downstream_rq_total"},
		{name: "server sidecar cluster", envoy: server, stat: "cluster.inbound|" + strconv.Itoa(servicePort) + "||.upstream_rq_total"},
	}
	return nil
}

// listenerStatName is the "IP_PORT" part of the stat prefix Isthmus gives
// a listener's HTTP connection manager.
func listenerStatName(ip string) string { return ip + "_" + strconv.Itoa(servicePort) }

// startIsthmusSidecar starts the Envoy of the workload "app: ROLE" (role
// is "client" or "server") at ip and waits for its listener on
// ip:servicePort.
func startIsthmusSidecar(ctx context.Context, env *environment, is *localmesh.Isthmus, role, ip string) (*localmesh.Envoy, error) {
	name := "isthmus-" + role
	node := localmesh.SidecarNode(role, serviceNamespace, ip, map[string]string{"app": role}, false)
	e, err := localmesh.StartSidecar(ctx, is, name, node, env.logDir)
	if err != nil {
		return nil, err
	}
	if err := e.WaitListener(ctx, listenAddr(ip)); err != nil {
		e.Close()
		return nil, fmt.Errorf("%s: %w\nenvoy log:\n%s", name, err, e.LogTail(20))
	}
	return e, nil
}

// own makes the path stop e when it closes, after what it stopped before.
func (p *path) own(e *localmesh.Envoy) {
	p.envoys = append(p.envoys, e)
	previous := p.close
	p.close = func() {
		e.Close()
		if previous != nil {
			previous()
		}
	}
}
