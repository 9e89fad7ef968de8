package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// The migration scenario's server listens on two HTTP ports; the
// workload-level step disables mTLS on the second only.
const (
	migrationPort      = 8000
	migrationPlainPort = 9000
	migrationHost      = "server.default.svc.cluster.local"
	// convergeWithin is how soon after a write every client must reach
	// every port as the new policy says.
	convergeWithin = 2 * time.Second
)

var migrationPorts = []int{migrationPort, migrationPlainPort}

// migrationMesh is the scenario's own Isthmus (mesh-wide policies would
// disturb the shared mesh's tests), a server workload with a sidecar in
// front of one upstream per port, and client sidecars.
type migrationMesh struct {
	dir      string
	logDir   string
	isthmus  *localmesh.Isthmus
	server   *localmesh.Envoy // the server workload's sidecar
	proven   bool             // Envoys prove their identity on the secure port
	serverIP string
	apps     map[int]*localmesh.Upstream // by port
	clients  []*migrationClient
}

// migrationClient is a client sidecar with an egress listener per port.
type migrationClient struct {
	name  string
	envoy *localmesh.Envoy
	http  map[int]*localmesh.Client // by port
}

// TestMutualTLSMigration walks Istio's "Mutual TLS Migration" task with
// the same two client sidecars (state of the world and delta) connected
// throughout and a third that connects late: PERMISSIVE, mesh-wide STRICT,
// namespace DISABLE, workload STRICT with one port DISABLE, and back to
// STRICT. At every step every sidecar client reaches both ports (mTLS where
// the server requires it, plaintext where it disables mTLS) within
// convergeWithin of the write, plaintext clients get in exactly where the
// server does not require mTLS, no Envoy reconnects and none rejects an
// update.
func TestMutualTLSMigration(t *testing.T) {
	t.Parallel()
	m := startMigrationMesh(t)
	steps := []struct {
		name   string
		policy string
		strict map[int]bool // ports that refuse plaintext
	}{
		{"PERMISSIVE", "", nil},
		{"mesh STRICT", meshStrictYAML, map[int]bool{migrationPort: true, migrationPlainPort: true}},
		{"namespace DISABLE", meshStrictYAML + "\n---\n" + namespaceDisableYAML, nil},
		{"workload STRICT, port DISABLE", meshStrictYAML + "\n---\n" + workloadPortDisableYAML, map[int]bool{migrationPort: true}},
		{"back to STRICT", meshStrictYAML, map[int]bool{migrationPort: true, migrationPlainPort: true}},
	}
	for i, step := range steps {
		written := m.apply(t, step.policy)
		if step.name == "namespace DISABLE" {
			m.converge(t, step.name+" (before the late client)", written, step.strict)
			m.startClient(t, "client-late", false)
			written = time.Now()
		}
		m.converge(t, step.name, written, step.strict)
		waitSynced(t, m.isthmus, step.name)
		t.Logf("step %d (%s) converged", i+1, step.name)
	}
	for _, c := range m.clients {
		m.checkClient(t, c)
	}
	checkEnvoyAccepted(t, "server", m.server)
}

const meshStrictYAML = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}`

const namespaceDisableYAML = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: DISABLE}}`

var workloadPortDisableYAML = fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: server, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  mtls: {mode: STRICT}
  portLevelMtls:
    %d: {mode: DISABLE}`, migrationPlainPort)

func startMigrationMesh(t *testing.T) *migrationMesh {
	t.Helper()
	return startMigrationMeshWith(t, false)
}

// startMigrationMeshWith starts the scenario; with proven, every Envoy
// connects to the secure port with a client certificate for the identity
// its node claims, and Isthmus serves keys to proven identities only.
func startMigrationMeshWith(t *testing.T, proven bool, isthmusArgs ...string) *migrationMesh {
	t.Helper()
	shared := theMesh(t) // for the binary it built
	m := &migrationMesh{dir: t.TempDir(), logDir: t.TempDir(), apps: map[int]*localmesh.Upstream{}, proven: proven}
	for _, port := range migrationPorts {
		u, err := localmesh.StartUpstream(fmt.Sprintf("server-%d", port), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		m.apps[port] = u
	}
	var err error
	if m.serverIP, err = localmesh.RandomLoopbackIP(migrationPort); err != nil {
		t.Fatal(err)
	}
	if err := localmesh.WriteFileAtomic(m.dir, "server.yaml", []byte(m.serverYAML())); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	if m.isthmus, err = localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: shared.isthmus.Bin, ConfigDir: m.dir, LogDir: m.logDir,
		ProvenIdentities: proven, ExtraArgs: isthmusArgs}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.isthmus.Close)
	node := localmesh.SidecarNode("server", "default", m.serverIP, map[string]string{"app": "server"}, false)
	node.Meta["SERVICE_ACCOUNT"] = "server"
	server := m.startEnvoy(t, "server", node)
	m.server = server
	for _, port := range migrationPorts {
		if err := server.WaitListener(ctx, m.serverAddr(port)); err != nil {
			t.Fatalf("server sidecar: %v\n%s", err, m.isthmus.LogTail(20))
		}
	}
	m.startClient(t, "client-sotw", false)
	m.startClient(t, "client-delta", true)
	return m
}

func (m *migrationMesh) serverAddr(port int) string {
	return net.JoinHostPort(m.serverIP, strconv.Itoa(port))
}

// serverYAML declares the service (both ports, HTTP), its workload with a
// sidecar, the server sidecar's ingress listeners, and a DestinationRule
// giving each request its own connection: a connection accepted before a
// policy change keeps the filter chain it was accepted on while Envoy
// drains it, so each step is judged on connections made under it.
func (m *migrationMesh) serverYAML() string {
	var ports, ingress strings.Builder
	for _, port := range migrationPorts {
		fmt.Fprintf(&ports, "  - {number: %d, name: http-%d, protocol: HTTP}\n", port, port)
		fmt.Fprintf(&ingress, "  - port: {number: %d, protocol: HTTP, name: http-%d}\n    bind: %s\n    captureMode: NONE\n    defaultEndpoint: %s\n",
			port, port, m.serverIP, m.apps[port].Addr)
	}
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: server, namespace: default}
spec:
  hosts: [%[1]s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
%[2]s  workloadSelector: {labels: {app: server}}
---
%[3]s
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: server, namespace: default}
spec:
  workloadSelector: {labels: {app: server}}
  ingress:
%[4]s  egress:
  - hosts: ["istio-system/*"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: server, namespace: default}
spec:
  host: %[1]s
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}}`, migrationHost, ports.String(), sidecarWorkloadYAML("server", m.serverIP, ""), ingress.String())
}

// startClient starts a client sidecar with an HTTP egress listener per port
// on its own loopback address, declared by its own Sidecar.
func (m *migrationMesh) startClient(t *testing.T, name string, delta bool) {
	t.Helper()
	ip, err := localmesh.RandomLoopbackIP(migrationPort)
	if err != nil {
		t.Fatal(err)
	}
	var egress strings.Builder
	for _, port := range migrationPorts {
		fmt.Fprintf(&egress, "  - port: {number: %d, protocol: HTTP, name: http-%d}\n    bind: %s\n    captureMode: NONE\n    hosts: [\"./*\"]\n", port, port, ip)
	}
	sidecar := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: %[1]s, namespace: default}
spec:
  workloadSelector: {labels: {app: %[1]s}}
  egress:
%[2]s`, name, egress.String())
	if err := localmesh.WriteFileAtomic(m.dir, name+".yaml", []byte(sidecar)); err != nil {
		t.Fatal(err)
	}
	c := &migrationClient{name: name, http: map[int]*localmesh.Client{}}
	c.envoy = m.startEnvoy(t, name, localmesh.SidecarNode(name, "default", ip, map[string]string{"app": name}, delta))
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	for _, port := range migrationPorts {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		if err := c.envoy.WaitListener(ctx, addr); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, m.isthmus.LogTail(20))
		}
		if c.http[port], err = localmesh.NewClient(addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.http[port].Close)
	}
	m.clients = append(m.clients, c)
}

func (m *migrationMesh) startEnvoy(t *testing.T, name string, node localmesh.Node) *localmesh.Envoy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	if m.proven && node.TLS == nil {
		node.TLS = m.clientCertificate(t, name, claimedServiceAccount(node))
	}
	e, err := localmesh.StartSidecar(ctx, m.isthmus, name, node, m.logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// apply writes the scenario's PeerAuthentications (none when empty).
func (m *migrationMesh) apply(t *testing.T, policy string) time.Time {
	t.Helper()
	var err error
	if policy == "" {
		err = localmesh.RemoveFile(m.dir, "policy.yaml")
		if os.IsNotExist(err) {
			err = nil
		}
	} else {
		err = localmesh.WriteFileAtomic(m.dir, "policy.yaml", []byte(policy))
	}
	if err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// converge waits until every client reaches every port's application and
// plaintext callers are refused exactly on the strict ports, failing when
// that takes longer than convergeWithin from written.
func (m *migrationMesh) converge(t *testing.T, step string, written time.Time, strict map[int]bool) {
	t.Helper()
	var problems []string
	for {
		problems = m.problems(strict)
		if len(problems) == 0 {
			break
		}
		if time.Since(written) > convergeWithin {
			t.Fatalf("%s: not in effect %v after the write:\n  %s\nisthmus log:\n%s", step, convergeWithin,
				strings.Join(problems, "\n  "), m.isthmus.LogTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s: in effect after %v", step, time.Since(written).Round(time.Millisecond))
}

// problems lists what does not hold yet: a client that does not reach a
// port's application, a plaintext call let in on a strict port or refused
// on another.
func (m *migrationMesh) problems(strict map[int]bool) []string {
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, c := range m.clients {
		for _, port := range migrationPorts {
			r, err := c.http[port].Get(ctx, migrationHost, "/", nil)
			if want := m.apps[port].Name; err != nil || r.Upstream != want {
				out = append(out, fmt.Sprintf("%s to port %d: %d from %q (%v), want %s", c.name, port, r.Status, r.Upstream, err, want))
			}
		}
	}
	for _, port := range migrationPorts {
		code, err := plainGetAddr(m.serverAddr(port), migrationHost)
		if refused := err != nil; refused != strict[port] {
			out = append(out, fmt.Sprintf("plaintext to port %d: %d (%v), want refused %v", port, code, err, strict[port]))
		}
	}
	return out
}

// checkClient checks that a client's Envoy kept its one connection to
// Isthmus and rejected no update.
func (m *migrationMesh) checkClient(t *testing.T, c *migrationClient) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stats, err := c.envoy.Stats(ctx)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if rejected := stats.Matching(".update_rejected").NonZero(); len(rejected) > 0 {
		t.Errorf("%s rejected xDS updates:\n%s", c.name, rejected)
	}
	if n := stats["cluster.xds-grpc.upstream_cx_total"]; n != 1 {
		t.Errorf("%s connected to Isthmus %d times, want once", c.name, n)
	}
}

// plainGetAddr sends one plaintext request to addr, as a workload without
// a sidecar would.
func plainGetAddr(addr, host string) (int, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
