package capture

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// Ports of the applications that are not a service port.
const (
	outsidePort   = 7070 // a server in the hub, outside the mesh
	undeclaredApp = 7071 // a port reviews-v1 serves that no service declares
)

// mesh is the pod network with Isthmus, three sidecars and the apps.
type mesh struct {
	logDir     string
	net        *network
	restoreBin string // the iptables-restore that installed the rules
	isthmus    *isthmus

	client, reviewsV1, reviewsV2 *pod
	sidecars                     map[string]*sidecar // by pod role
	apps                         map[string]*app     // by pod role; "outside" is the hub's
}

// startMesh builds everything, registering its removal with t.Cleanup.
func startMesh(ctx context.Context, t *testing.T, envoyBin string) *mesh {
	t.Helper()
	m := &mesh{sidecars: map[string]*sidecar{}, apps: map[string]*app{}}
	m.logDir = keptOnFailure(t)
	configDir, err := writeMeshConfig(m.logDir)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := localmesh.BuildIsthmus(m.logDir)
	if err != nil {
		t.Fatal(err)
	}
	m.startNetwork(t)
	m.startApps(t)
	m.isthmus, err = startIsthmus(ctx, m.net.hub, bin, configDir, m.logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.isthmus.proc.stop(5 * time.Second) })
	m.startSidecars(ctx, t, envoyBin)
	return m
}

// keptOnFailure makes the log directory: removed after a passing test,
// kept and named after a failing one.
func keptOnFailure(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "isthmus-capture-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs, bootstraps, config dumps and config kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// startNetwork creates the hub and the three pods, each pod with the
// capture rules.
func (m *mesh) startNetwork(t *testing.T) {
	t.Helper()
	var err error
	if m.net, err = newNetwork(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.net.close(); err != nil {
			t.Errorf("remove network namespaces: %v", err)
		}
	})
	for _, p := range []struct {
		role string
		ip   string
		dst  **pod
	}{{"client", clientIP, &m.client}, {"reviews-v1", reviewsV1IP, &m.reviewsV1}, {"reviews-v2", reviewsV2IP, &m.reviewsV2}} {
		if *p.dst, err = m.net.addPod(p.role, p.ip); err != nil {
			t.Fatal(err)
		}
		if m.restoreBin, err = installCapture(*p.dst); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("capture rules installed with %s", m.restoreBin)
}

// startApps starts the reviews applications on 0.0.0.0:8080 of their pods
// and on 7000 of their pod IP only, as an application that does not listen
// on loopback (reviews-v1 also on 0.0.0.0:7071), and the outside-mesh server
// on the hub.
func (m *mesh) startApps(t *testing.T) {
	t.Helper()
	appAddr := net.JoinHostPort("0.0.0.0", strconv.Itoa(reviewsAppPort))
	for _, p := range []*pod{m.reviewsV1, m.reviewsV2} {
		a, err := startApp(p.ns, p.role, appAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.close() })
		m.apps[p.role] = a
		if err := a.serveAlso(p.ns, net.JoinHostPort(p.ip, strconv.Itoa(reviewsTCPApp))); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.apps["reviews-v1"].serveAlso(m.reviewsV1.ns, net.JoinHostPort("0.0.0.0", strconv.Itoa(undeclaredApp))); err != nil {
		t.Fatal(err)
	}
	outside, err := startApp(m.net.hub, "outside", net.JoinHostPort(hubIP, strconv.Itoa(outsidePort)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outside.close() })
	m.apps["outside"] = outside
}

// workloads are the sidecars' identities, by pod role.
var workloads = map[string]workload{
	"client":     {pod: "client-1", labels: map[string]string{"app": "client"}},
	"reviews-v1": {pod: "reviews-v1-1", labels: map[string]string{"app": "reviews", "version": "v1"}},
	"reviews-v2": {pod: "reviews-v2-1", labels: map[string]string{"app": "reviews", "version": "v2"}},
}

// startSidecars starts the three Envoys concurrently.
func (m *mesh) startSidecars(ctx context.Context, t *testing.T, envoyBin string) {
	t.Helper()
	pods := []*pod{m.client, m.reviewsV1, m.reviewsV2}
	started := make([]*sidecar, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() { started[i], errs[i] = startSidecar(ctx, m.isthmus, envoyBin, p, workloads[p.role], m.logDir) })
	}
	wg.Wait()
	for i, s := range started {
		if s == nil {
			continue
		}
		m.sidecars[pods[i].role] = s
		t.Cleanup(func() { s.proc.stop(5 * time.Second) })
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// saveDiagnostics writes every sidecar's config dump into the log dir.
func (m *mesh) saveDiagnostics(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range m.sidecars {
		if err := s.saveConfigDump(ctx, m.logDir); err != nil {
			t.Logf("config dump of %s: %v", s.pod.role, err)
		}
	}
}

// explain describes the state behind a failed request: the client pod's
// rule counters and the tail of each sidecar's log.
func (m *mesh) explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client pod nat table:\n%s", natTable(m.client, m.restoreBin))
	for _, role := range []string{"client", "reviews-v1", "reviews-v2"} {
		if s := m.sidecars[role]; s != nil {
			fmt.Fprintf(&b, "envoy %s log:\n%s\n", role, s.proc.logTail(15))
		}
	}
	fmt.Fprintf(&b, "config dumps and logs: %s", m.logDir)
	return b.String()
}

func writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
