package localmesh

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// IsthmusOptions configures an `isthmus serve` process.
type IsthmusOptions struct {
	Bin       string   // the isthmus binary (see BuildIsthmus)
	ConfigDir string   // passed as --config-dir, unless empty
	LogDir    string   // where isthmus.log is written
	ExtraArgs []string // appended to the serve command line
	// ProvenIdentities serves private keys only to proxies that prove
	// their identity on the secure port; without it Isthmus runs with
	// --insecure-identities, as the harness's proxies connect in plaintext.
	ProvenIdentities bool
}

// Isthmus is a running `isthmus serve` process.
type Isthmus struct {
	Bin            string
	ConfigDir      string
	XDSAddr        string // "127.0.0.1:PORT", the ADS endpoint
	SecureAddr     string // "127.0.0.1:PORT", ADS over TLS (--secure-listen)
	MonitoringAddr string // "127.0.0.1:PORT", /readyz and /metrics

	proc     *process
	args     []string // the serve command line, for KillAndRestart
	logDir   string
	restarts int
}

// StartIsthmus starts `isthmus serve` on free loopback ports and waits until
// its /readyz answers 200.
func StartIsthmus(ctx context.Context, opts IsthmusOptions) (*Isthmus, error) {
	xdsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	monAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	secureAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--xds-listen", xdsAddr, "--secure-listen", secureAddr, "--monitoring-listen", monAddr,
		"--webhook-listen", ""}
	if !opts.ProvenIdentities {
		args = append(args, "--insecure-identities")
	}
	if opts.ConfigDir != "" {
		args = append(args, "--config-dir", opts.ConfigDir)
	}
	if !slices.ContainsFunc(opts.ExtraArgs, isStateDirFlag) {
		// A state of its own (CA, clusters' last state), kept with the logs.
		args = append(args, "--state-dir", filepath.Join(opts.LogDir, "state"))
	}
	args = append(args, opts.ExtraArgs...)
	proc, err := startProcess("isthmus", filepath.Join(opts.LogDir, "isthmus.log"), opts.Bin, args...)
	if err != nil {
		return nil, err
	}
	is := &Isthmus{Bin: opts.Bin, ConfigDir: opts.ConfigDir, XDSAddr: xdsAddr, SecureAddr: secureAddr, MonitoringAddr: monAddr, proc: proc,
		args: args, logDir: opts.LogDir}
	if err := waitFor(ctx, "isthmus /readyz", is.checkReady); err != nil {
		is.Close()
		return nil, fmt.Errorf("%w; isthmus log:\n%s", err, proc.logTail(40))
	}
	return is, nil
}

func (is *Isthmus) checkReady() error {
	if err := is.proc.errIfExited(); err != nil {
		return err
	}
	body, status, err := httpGet(context.Background(), "http://"+is.MonitoringAddr+"/readyz")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("/readyz answered %d: %s", status, body)
	}
	return nil
}

// Metrics returns the Prometheus text exposition from /metrics.
func (is *Isthmus) Metrics(ctx context.Context) (string, error) {
	body, status, err := httpGet(ctx, "http://"+is.MonitoringAddr+"/metrics")
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("isthmus /metrics answered %d", status)
	}
	return string(body), nil
}

// KillAndRestart kills the process at once (SIGKILL, as a crash or an
// evicted pod would end) and starts it again with the same command line,
// on the same addresses, waiting until /readyz answers 200. Its output goes
// to isthmus-restart-N.log.
func (is *Isthmus) KillAndRestart(ctx context.Context) error {
	is.proc.kill()
	is.restarts++
	proc, err := startProcess("isthmus", filepath.Join(is.logDir, fmt.Sprintf("isthmus-restart-%d.log", is.restarts)), is.Bin, is.args...)
	if err != nil {
		return err
	}
	is.proc = proc
	if err := waitFor(ctx, "restarted isthmus /readyz", is.checkReady); err != nil {
		return fmt.Errorf("%w; isthmus log:\n%s", err, proc.logTail(40))
	}
	return nil
}

// Close stops the process.
func (is *Isthmus) Close() { is.proc.stop(5 * time.Second) }

// LogPath is the file holding the process output.
func (is *Isthmus) LogPath() string { return is.proc.logPath }

// LogTail returns the last n lines of the process output.
func (is *Isthmus) LogTail(n int) string { return is.proc.logTail(n) }

// Node is how an Envoy identifies itself to Isthmus.
type Node struct {
	ID       string
	Meta     map[string]string // node metadata, passed as --meta KEY=VALUE
	Delta    bool              // use delta xDS instead of state-of-the-world
	Locality string            // REGION/ZONE/SUBZONE, passed as --locality
	// TLS, when set, connects the Envoy to the secure port with a client
	// certificate.
	TLS *NodeTLS
}

// NodeTLS is the files an Envoy proves its identity with on the secure
// port.
type NodeTLS struct {
	RootCert, CertChain, PrivateKey string
}

// SidecarNode describes a sidecar without traffic capture (INTERCEPTION_MODE
// NONE) named pod in namespace, at ip, with the given workload labels.
func SidecarNode(pod, namespace, ip string, labels map[string]string, delta bool) Node {
	labelJSON, _ := json.Marshal(labels) // a map of strings always marshals
	return Node{
		ID:    fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", ip, pod, namespace, namespace),
		Delta: delta,
		Meta: map[string]string{
			"NAMESPACE":         namespace,
			"LABELS":            string(labelJSON),
			"INTERCEPTION_MODE": "NONE",
		},
	}
}

// Bootstrap runs `isthmus bootstrap` for node, pointing it at this process,
// with Envoy's admin interface on adminAddr (a loopback IP:PORT).
func (is *Isthmus) Bootstrap(node Node, adminAddr string) ([]byte, error) {
	args := []string{"bootstrap", "--node-id", node.ID, "--admin-address", adminAddr}
	if node.TLS == nil {
		args = append(args, "--xds-address", is.XDSAddr)
	} else {
		args = append(args, "--xds-address", is.SecureAddr, "--xds-root-cert", node.TLS.RootCert,
			"--xds-client-cert", node.TLS.CertChain, "--xds-client-key", node.TLS.PrivateKey)
	}
	keys := make([]string, 0, len(node.Meta))
	for k := range node.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--meta", k+"="+node.Meta[k])
	}
	if node.Delta {
		args = append(args, "--delta")
	}
	if node.Locality != "" {
		args = append(args, "--locality", node.Locality)
	}
	out, err := runOutput(is.Bin, args...)
	if err != nil {
		return nil, fmt.Errorf("isthmus bootstrap: %w", err)
	}
	return out, nil
}

// httpGet fetches url with a short timeout, returning body and status.
func httpGet(ctx context.Context, url string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", url, err)
	}
	return body, resp.StatusCode, nil
}

// adminClient talks to admin and monitoring endpoints, never through a proxy.
var adminClient = &http.Client{Transport: &http.Transport{Proxy: nil}}

// isStateDirFlag reports whether arg chooses Isthmus's state directory.
func isStateDirFlag(arg string) bool {
	return arg == "--state-dir" || strings.HasPrefix(arg, "--state-dir=")
}
