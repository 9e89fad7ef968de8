package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// drainHost is the service of the drain test's own mesh.
const drainHost = "drained.default.svc.cluster.local"

// drainPeriod is the --drain-duration of the drain test's Isthmus.
const drainPeriod = 3 * time.Second

// TestSIGTERMDrainsEnvoysAndTheyKeepServing: SIGTERM to an Isthmus serving
// two real Envoys (state of the world and delta). Isthmus drains and exits
// by itself: it ends the Envoys' streams one after the other across
// --drain-duration, none is left when it stops; each Envoy sees its
// control plane go, keeps the configuration it was given and keeps routing
// requests with it.
func TestSIGTERMDrainsEnvoysAndTheyKeepServing(t *testing.T) {
	t.Parallel()
	bin := theMesh(t).isthmus.Bin
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	upstream, err := localmesh.StartUpstream("drained-v1", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upstream.Close() })
	proxies := drainProxies(t)
	dir, logDir := t.TempDir(), t.TempDir()
	if err := localmesh.WriteFileAtomic(dir, "mesh.yaml", []byte(drainMeshYAML(upstream.Port(), proxies))); err != nil {
		t.Fatal(err)
	}
	is, err := localmesh.StartIsthmus(ctx, localmesh.IsthmusOptions{Bin: bin, ConfigDir: dir, LogDir: logDir,
		ExtraArgs: []string{"--drain-duration", drainPeriod.String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	for _, p := range proxies {
		startDrainProxy(ctx, t, is, p, logDir)
	}

	is.Close() // SIGTERM, then SIGKILL after 5 s
	log := isthmusLines(t, is.LogPath())
	for _, want := range []string{`msg="xDS drain started`, `msg="xDS drain finished"`, `msg="isthmus stopped"`} {
		if len(grepLines(log, want)) != 1 {
			t.Fatalf("isthmus log has no line %s: it did not drain and exit by itself\n%s", want, strings.Join(log, "\n"))
		}
	}
	if finished := grepLines(log, "xDS drain finished")[0]; !strings.Contains(finished, "streams_left=0") {
		t.Errorf("drain finished with streams left: %s", finished)
	}
	checkEndsSpread(t, grepLines(log, `msg="proxy disconnected"`))
	for _, p := range proxies {
		checkServesWithoutControlPlane(ctx, t, p)
	}
}

// drainProxies picks a listener address for a state-of-the-world and a
// delta sidecar.
func drainProxies(t *testing.T) []*proxy {
	t.Helper()
	var out []*proxy
	for _, name := range []string{"drain-sotw", "drain-delta"} {
		ip, err := localmesh.RandomLoopbackIP(servicePort)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &proxy{name: name, bindIP: ip})
	}
	return out
}

// drainMeshYAML is the service drainHost at 127.0.0.1:port and a Sidecar
// for each proxy, as the shared mesh's.
func drainMeshYAML(port int, proxies []*proxy) string {
	docs := []string{fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: drained
  namespace: default
spec:
  hosts: [%s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: %d, name: http, protocol: HTTP}
  endpoints:
  - address: 127.0.0.1
    ports: {http: %d}
`, drainHost, servicePort, port)}
	for _, p := range proxies {
		docs = append(docs, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: %[1]s
  namespace: default
spec:
  workloadSelector:
    labels: {app: %[1]s}
  egress:
  - port: {number: %[2]d, protocol: HTTP, name: http}
    bind: %[3]s
    captureMode: NONE
    hosts: ["./*"]
`, p.name, servicePort, p.bindIP))
	}
	return strings.Join(docs, "---\n")
}

// startDrainProxy starts p's Envoy against is and waits until requests
// through it reach the upstream.
func startDrainProxy(ctx context.Context, t *testing.T, is *localmesh.Isthmus, p *proxy, logDir string) {
	t.Helper()
	node := localmesh.SidecarNode(p.name, "default", p.bindIP, map[string]string{"app": p.name}, strings.HasSuffix(p.name, "delta"))
	e, err := localmesh.StartSidecar(ctx, is, p.name, node, logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	t.Cleanup(func() { checkEnvoyAccepted(t, p.name, e) })
	addr := net.JoinHostPort(p.bindIP, strconv.Itoa(servicePort))
	if err := e.WaitListener(ctx, addr); err != nil {
		t.Fatalf("%s: %v\nisthmus log:\n%s", p.name, err, is.LogTail(20))
	}
	c, err := localmesh.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	p.envoy, p.client = e, c
	waitUntil(t, p.name+" to route to "+drainHost, func() bool {
		r, err := c.Get(ctx, drainHost, "/", nil)
		return err == nil && r.Upstream == "drained-v1"
	})
}

// checkEndsSpread checks that the two proxies' streams ended apart, as
// the drain spreads them across its period (2 proxies: the second half
// way through). Only a lower bound: a loaded machine makes it later.
func checkEndsSpread(t *testing.T, disconnected []string) {
	t.Helper()
	if len(disconnected) != 2 {
		t.Fatalf("%d proxies disconnected, want 2:\n%s", len(disconnected), strings.Join(disconnected, "\n"))
	}
	var at []time.Time
	for _, line := range disconnected {
		at = append(at, lineTime(t, line))
	}
	slices.SortFunc(at, time.Time.Compare)
	if gap := at[1].Sub(at[0]); gap < drainPeriod/4 {
		t.Errorf("the Envoys' streams ended %v apart, want them spread across the %v drain", gap, drainPeriod)
	}
}

// checkServesWithoutControlPlane waits until p's Envoy knows its control
// plane gone, then checks that it still routes with its configuration.
func checkServesWithoutControlPlane(ctx context.Context, t *testing.T, p *proxy) {
	t.Helper()
	waitUntil(t, p.name+" to see its control plane gone", func() bool {
		stats, err := p.envoy.Stats(ctx)
		connected, ok := stats["control_plane.connected_state"]
		return err == nil && ok && connected == 0
	})
	for range 5 {
		if r, err := p.client.Get(ctx, drainHost, "/", nil); err != nil || r.Upstream != "drained-v1" {
			t.Fatalf("%s after the drain: reply %d from %q (%v), want drained-v1", p.name, r.Status, r.Upstream, err)
		}
	}
}

// isthmusLines reads Isthmus's log.
func isthmusLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// grepLines returns the lines that contain substr.
func grepLines(lines []string, substr string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// lineTime reads the time= field of a text log line.
func lineTime(t *testing.T, line string) time.Time {
	t.Helper()
	field, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
	at, err := time.Parse(time.RFC3339Nano, field)
	if err != nil {
		t.Fatalf("log line without a time: %q", line)
	}
	return at
}
