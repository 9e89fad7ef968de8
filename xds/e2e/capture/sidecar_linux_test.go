package capture

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// Isthmus's ports on the hub's bridge address.
const (
	xdsPort        = 15010
	monitoringPort = 15014
)

// pollInterval is how often a wait re-checks its condition.
const pollInterval = 50 * time.Millisecond

// waitFor calls check until it returns nil or ctx ends; the last error
// explains a timeout.
func waitFor(ctx context.Context, what string, check func() error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-ticker.C:
		}
	}
}

// httpIn is a client whose connections open inside ns, for admin and
// monitoring endpoints.
func httpIn(ns *netns) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: ns.dial}}
}

// fetch GETs url and fails unless it answers 200.
func fetch(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, body)
	}
	return body, nil
}

// isthmus is `isthmus serve` running in the hub namespace.
type isthmus struct {
	bin  string
	proc *proc
	http *http.Client
}

func (is *isthmus) xdsAddr() string { return net.JoinHostPort(hubIP, strconv.Itoa(xdsPort)) }

// startIsthmus serves configDir on the hub's bridge address and waits for
// /readyz.
func startIsthmus(ctx context.Context, hub *netns, bin, configDir, logDir string) (*isthmus, error) {
	monitoring := net.JoinHostPort(hubIP, strconv.Itoa(monitoringPort))
	is := &isthmus{bin: bin, http: httpIn(hub)}
	p, err := startProc(hub, "isthmus", filepath.Join(logDir, "isthmus.log"), 0, bin,
		"serve", "--config-dir", configDir, "--xds-listen", is.xdsAddr(), "--secure-listen", "", "--webhook-listen", "", "--insecure-identities",
		"--monitoring-listen", monitoring)
	if err != nil {
		return nil, err
	}
	is.proc = p
	err = waitFor(ctx, "isthmus /readyz", func() error {
		if err := p.errIfExited(); err != nil {
			return err
		}
		_, err := fetch(ctx, is.http, "http://"+monitoring+"/readyz")
		return err
	})
	if err != nil {
		p.stop(2 * time.Second)
		return nil, fmt.Errorf("%w\nisthmus log:\n%s", err, p.logTail(30))
	}
	return is, nil
}

// workload describes the pod a sidecar serves, as istio-proxy reports it.
type workload struct {
	pod    string // pod name, e.g. "client-1"
	labels map[string]string
}

// nodeID is istio-proxy's sidecar node id in namespace default.
func (w workload) nodeID(ip string) string {
	return fmt.Sprintf("sidecar~%s~%s.default~default.svc.cluster.local", ip, w.pod)
}

// bootstrap runs `isthmus bootstrap` for a REDIRECT-mode sidecar of w at ip.
func (is *isthmus) bootstrap(w workload, ip string) ([]byte, error) {
	labels, err := json.Marshal(w.labels)
	if err != nil {
		return nil, err
	}
	out, err := run(is.bin, "bootstrap",
		"--xds-address", is.xdsAddr(),
		"--node-id", w.nodeID(ip),
		"--admin-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(envoyAdminPort)),
		"--meta", "NAMESPACE=default",
		"--meta", "LABELS="+string(labels),
		"--meta", "INTERCEPTION_MODE=REDIRECT",
		"--meta", "INSTANCE_IPS="+ip)
	if err != nil {
		return nil, fmt.Errorf("isthmus bootstrap: %w", err)
	}
	return out, nil
}

// sidecar is Envoy running as uid 1337 in a pod.
type sidecar struct {
	pod   *pod
	proc  *proc
	admin *http.Client
}

// startSidecar bootstraps Envoy for w and starts it in p's namespace as uid
// 1337, then waits until it is LIVE with no listener still warming.
func startSidecar(ctx context.Context, is *isthmus, envoyBin string, p *pod, w workload, logDir string) (*sidecar, error) {
	boot, err := is.bootstrap(w, p.ip)
	if err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(logDir, p.role+".bootstrap.yaml"), boot); err != nil {
		return nil, err
	}
	// The bootstrap goes on the command line: uid 1337 cannot read the
	// test's private temporary directory.
	pr, err := startProc(p.ns, "envoy "+p.role, filepath.Join(logDir, p.role+".envoy.log"), proxyUID, envoyBin,
		"--config-yaml", string(boot),
		"--disable-hot-restart",
		"--concurrency", "1",
		"--drain-time-s", "1",
		"--log-level", "info")
	if err != nil {
		return nil, err
	}
	s := &sidecar{pod: p, proc: pr, admin: httpIn(p.ns)}
	if err := waitFor(ctx, "envoy "+p.role+" ready", s.checkReady); err != nil {
		pr.stop(2 * time.Second)
		return nil, fmt.Errorf("%w\nenvoy log:\n%s\nisthmus log:\n%s", err, pr.logTail(30), is.proc.logTail(20))
	}
	return s, nil
}

// checkReady passes once Envoy is LIVE, has its capture listeners and no
// listener is warming.
func (s *sidecar) checkReady() error {
	if err := s.proc.errIfExited(); err != nil {
		return err
	}
	ctx := context.Background()
	body, err := s.get(ctx, "/ready")
	if err != nil {
		return err
	}
	if state := strings.TrimSpace(string(body)); state != "LIVE" {
		return fmt.Errorf("server state %s", state)
	}
	stats, err := s.stats(ctx)
	if err != nil {
		return err
	}
	if n := stats["listener_manager.total_listeners_warming"]; n != 0 {
		return fmt.Errorf("%d listeners warming", n)
	}
	for _, name := range []string{"virtualOutbound", "virtualInbound"} {
		if !s.hasListener(ctx, name) {
			return fmt.Errorf("no %s listener yet", name)
		}
	}
	return nil
}

// hasListener reports whether Envoy has an active listener called name.
func (s *sidecar) hasListener(ctx context.Context, name string) bool {
	body, err := s.get(ctx, "/listeners")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"::") {
			return true
		}
	}
	return false
}

// get fetches an admin path.
func (s *sidecar) get(ctx context.Context, path string) ([]byte, error) {
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(envoyAdminPort)) + path
	body, err := fetch(ctx, s.admin, url)
	if err != nil {
		return nil, fmt.Errorf("envoy %s admin: %w", s.pod.role, err)
	}
	return body, nil
}

// stats reads every counter and gauge.
func (s *sidecar) stats(ctx context.Context) (localmesh.Stats, error) {
	body, err := s.get(ctx, "/stats?format=json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("envoy %s stats: %w", s.pod.role, err)
	}
	out := localmesh.Stats{}
	for _, st := range doc.Stats {
		if v, err := strconv.ParseUint(string(st.Value), 10, 64); err == nil && st.Name != "" {
			out[st.Name] = v
		}
	}
	return out, nil
}

// saveConfigDump writes Envoy's /config_dump into logDir.
func (s *sidecar) saveConfigDump(ctx context.Context, logDir string) error {
	body, err := s.get(ctx, "/config_dump?include_eds")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(logDir, s.pod.role+".config_dump.json"), body)
}
