package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// servicePort is the port of every test service, and of the Sidecar egress
// listener each Envoy binds: an egress listener with a port serves the
// services that have that port.
const servicePort = 9080

// proxy is one Envoy sidecar of the shared mesh and the client that sends
// requests through it.
type proxy struct {
	name   string // "sotw" or "delta"
	bindIP string // where its egress listener is bound
	envoy  *localmesh.Envoy
	client *localmesh.Client
}

// mesh is shared by every test of the package: one isthmus process reading
// dir and two Envoys connected to it.
type mesh struct {
	dir     string // the config directory isthmus serves
	credDir string // the gateway credentials isthmus serves
	// eastWestIP is where the east-west gateway of network "gcp" listens
	// (on eastWestPort); isthmus is told so by --network-gateway.
	eastWestIP string
	logDir     string
	isthmus    *localmesh.Isthmus
	proxies    []*proxy
	// ready backs the service "ready": an egress listener exists only once
	// it admits a service, so the mesh starts with one.
	ready *localmesh.Upstream
}

// readyHost is the service every proxy reaches once the mesh is up.
const readyHost = "ready.default.svc.cluster.local"

var (
	sharedOnce     sync.Once
	shared         *mesh
	sharedErr      error
	sharedReported sync.Once // the full start error is shown once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.close()
		if code == 0 {
			os.RemoveAll(shared.dir)
			os.RemoveAll(shared.credDir)
			os.RemoveAll(shared.logDir)
		} else {
			fmt.Fprintf(os.Stderr, "e2e: logs kept in %s, config in %s\n", shared.logDir, shared.dir)
		}
	}
	os.Exit(code)
}

// theMesh returns the shared mesh, starting it on first use; a failure to
// start (Envoy missing included) fails every test that asks.
func theMesh(t *testing.T) *mesh {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startMesh() })
	if sharedErr != nil {
		first, _, _ := strings.Cut(sharedErr.Error(), "\n")
		detail := first + " (full output in the first failing test)"
		sharedReported.Do(func() { detail = sharedErr.Error() })
		t.Fatalf("cannot start the test mesh: %s", detail)
	}
	return shared
}

func startMesh() (*mesh, error) {
	if _, err := localmesh.EnvoyPath(); err != nil {
		if !strings.Contains(err.Error(), "make tools") {
			err = fmt.Errorf("%w (run make tools)", err)
		}
		return nil, err
	}
	m, err := newMeshDirs()
	if err != nil {
		return nil, err
	}
	if err := m.start(); err != nil {
		m.close()
		return m, err
	}
	return m, nil
}

func newMeshDirs() (*mesh, error) {
	dir, err := os.MkdirTemp("", "isthmus-e2e-config-")
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp("", "isthmus-e2e-logs-")
	if err != nil {
		return nil, err
	}
	credDir, err := os.MkdirTemp("", "isthmus-e2e-credentials-")
	if err != nil {
		return nil, err
	}
	return &mesh{dir: dir, credDir: credDir, logDir: logDir}, nil
}

func (m *mesh) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := m.pickProxies(); err != nil {
		return err
	}
	var err error
	if m.ready, err = localmesh.StartUpstream("ready-v1", "127.0.0.1:0"); err != nil {
		return err
	}
	if err := localmesh.WriteFileAtomic(m.dir, "00-base.yaml", []byte(m.baseYAML())); err != nil {
		return err
	}
	meshConfig := filepath.Join(m.logDir, "mesh.yaml")
	if err := os.WriteFile(meshConfig, []byte(meshConfigYAML), 0o644); err != nil {
		return err
	}
	bin, err := localmesh.BuildIsthmus(m.logDir)
	if err != nil {
		return err
	}
	if m.isthmus, err = localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: bin, ConfigDir: m.dir, LogDir: m.logDir,
		ExtraArgs: []string{"--credentials-dir", m.credDir, "--mesh-config", meshConfig,
			"--network-gateway", fmt.Sprintf("%s=%s:%d", remoteNetwork, m.eastWestIP, eastWestPort)}}); err != nil {
		return err
	}
	return m.startEnvoys(ctx)
}

// pickProxies chooses a free loopback address for each Envoy's listener.
func (m *mesh) pickProxies() error {
	for _, name := range []string{"sotw", "delta"} {
		ip, err := localmesh.RandomLoopbackIP(servicePort)
		if err != nil {
			return err
		}
		m.proxies = append(m.proxies, &proxy{name: name, bindIP: ip})
	}
	var err error
	m.eastWestIP, err = localmesh.RandomLoopbackIP(eastWestPort)
	return err
}

// baseYAML gives each Envoy a Sidecar (no capture, an HTTP egress listener
// on its own address, every service of its namespace) and declares the
// service "ready".
func (m *mesh) baseYAML() string {
	docs := []string{fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ready
  namespace: default
spec:
  hosts:
  - %s
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: %d
    name: http
    protocol: HTTP
  endpoints:
  - address: 127.0.0.1
    ports:
      http: %d
`, readyHost, servicePort, m.ready.Port())}
	for _, p := range m.proxies {
		docs = append(docs, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client-%[1]s
  namespace: default
spec:
  workloadSelector:
    labels:
      app: client-%[1]s
  egress:
  - port:
      number: %[2]d
      protocol: HTTP
      name: http
    bind: %[3]s
    captureMode: NONE
    hosts:
    - "./*"
`, p.name, servicePort, p.bindIP))
	}
	return strings.Join(docs, "---\n")
}

func (m *mesh) startEnvoys(ctx context.Context) error {
	errs := make([]error, len(m.proxies))
	var wg sync.WaitGroup
	for i, p := range m.proxies {
		wg.Go(func() { errs[i] = m.startProxy(ctx, p) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *mesh) startProxy(ctx context.Context, p *proxy) error {
	labels := map[string]string{"app": "client-" + p.name}
	node := localmesh.SidecarNode("client-"+p.name, "default", p.bindIP, labels, p.name == "delta")
	var err error
	if p.envoy, err = localmesh.StartSidecar(ctx, m.isthmus, "client-"+p.name, node, m.logDir); err != nil {
		return fmt.Errorf("%w\nisthmus log:\n%s", err, m.isthmus.LogTail(30))
	}
	if err := checkAPIType(p); err != nil {
		return err
	}
	addr := net.JoinHostPort(p.bindIP, strconv.Itoa(servicePort))
	listenCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.envoy.WaitListener(listenCtx, addr); err != nil {
		dump, _ := p.envoy.ConfigDump(ctx, "resource=dynamic_listeners")
		return fmt.Errorf("%w\nenvoy %s listeners: %s\nenvoy log:\n%s\nisthmus log:\n%s",
			err, p.name, dump, p.envoy.LogTail(10), m.isthmus.LogTail(30))
	}
	if p.client, err = localmesh.NewClient(addr); err != nil {
		return err
	}
	return m.waitReady(listenCtx, p)
}

// waitReady waits until requests for the service "ready" reach its upstream.
func (m *mesh) waitReady(ctx context.Context, p *proxy) error {
	for {
		r, err := p.client.Get(ctx, readyHost, "/", nil)
		if err == nil && r.Upstream == "ready-v1" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("envoy %s: %s not served (last reply %d %q, %v)\nenvoy log:\n%s\nisthmus log:\n%s",
				p.name, readyHost, r.Status, r.Body, err, p.envoy.LogTail(10), m.isthmus.LogTail(30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (m *mesh) close() {
	for _, p := range m.proxies {
		if p.client != nil {
			p.client.Close()
		}
		if p.envoy != nil {
			p.envoy.Close()
		}
	}
	if m.isthmus != nil {
		m.isthmus.Close()
	}
	if m.ready != nil {
		m.ready.Close()
	}
}

// checkAPIType makes sure the delta Envoy really speaks delta xDS and the
// other state-of-the-world, as their bootstraps say.
func checkAPIType(p *proxy) error {
	bootstrap, err := os.ReadFile(p.envoy.BootstrapPath)
	if err != nil {
		return err
	}
	if delta := strings.Contains(string(bootstrap), "DELTA_GRPC"); delta != (p.name == "delta") {
		return fmt.Errorf("envoy %s: bootstrap mentions DELTA_GRPC: %v; bootstrap:\n%s", p.name, delta, bootstrap)
	}
	return nil
}
