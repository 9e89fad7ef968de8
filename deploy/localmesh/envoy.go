package localmesh

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// EnvoyOptions configures one Envoy process.
type EnvoyOptions struct {
	Name      string // used in log file names and messages, e.g. "client-sotw"
	Bin       string // the Envoy binary; "" means EnvoyPath()
	Bootstrap []byte // the bootstrap (YAML or JSON); its admin must listen on loopback
	LogDir    string // where NAME.envoy.log and NAME.bootstrap.yaml are written
	LogLevel  string // Envoy's --log-level; "" means "info"
	// NotLive returns once the admin interface answers, without waiting
	// for LIVE: for an Envoy Isthmus is expected to refuse.
	NotLive bool
}

// Envoy is a running Envoy process.
type Envoy struct {
	Name          string
	AdminAddr     string // "127.0.0.1:PORT" of the admin interface
	BootstrapPath string // the bootstrap file Envoy was started with

	proc *process
}

// StartEnvoy runs Envoy with opts.Bootstrap and waits until its admin
// interface reports the server LIVE (initial xDS fetches done).
func StartEnvoy(ctx context.Context, opts EnvoyOptions) (*Envoy, error) {
	bin := opts.Bin
	if bin == "" {
		var err error
		if bin, err = EnvoyPath(); err != nil {
			return nil, err
		}
	}
	bootstrapPath := filepath.Join(opts.LogDir, opts.Name+".bootstrap.yaml")
	if err := os.WriteFile(bootstrapPath, opts.Bootstrap, 0o644); err != nil {
		return nil, fmt.Errorf("envoy %s: write bootstrap: %w", opts.Name, err)
	}
	adminPathFile := filepath.Join(opts.LogDir, opts.Name+".admin-address")
	_ = os.Remove(adminPathFile)
	proc, err := startProcess("envoy "+opts.Name, filepath.Join(opts.LogDir, opts.Name+".envoy.log"), bin,
		envoyArgs(bootstrapPath, adminPathFile, opts.LogLevel)...)
	if err != nil {
		return nil, err
	}
	e := &Envoy{Name: opts.Name, BootstrapPath: bootstrapPath, proc: proc}
	if err := e.waitStarted(ctx, adminPathFile, !opts.NotLive); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// envoyArgs runs Envoy on one worker thread, with a dynamic shared-memory
// base id so several Envoys (and concurrent runs) never clash.
func envoyArgs(bootstrapPath, adminPathFile, logLevel string) []string {
	if logLevel == "" {
		logLevel = "info"
	}
	return []string{
		"-c", bootstrapPath,
		"--admin-address-path", adminPathFile,
		"--use-dynamic-base-id",
		"--concurrency", "1",
		"--log-level", logLevel,
		"--drain-time-s", "1",
		"--parent-shutdown-time-s", "2",
	}
}

func (e *Envoy) waitStarted(ctx context.Context, adminPathFile string, live bool) error {
	err := waitFor(ctx, "envoy "+e.Name+" admin address", func() error {
		if err := e.proc.errIfExited(); err != nil {
			return err
		}
		return e.readAdminAddr(adminPathFile)
	})
	if err == nil && live {
		err = e.WaitLive(ctx)
	}
	if err != nil {
		return fmt.Errorf("envoy %s did not start: %w\nlog %s:\n%s", e.Name, err, e.LogPath(), e.LogTail(40))
	}
	return nil
}

func (e *Envoy) readAdminAddr(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	addr := strings.TrimSpace(string(data))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("admin address file holds %q", addr)
	}
	if err := requireLoopback(addr); err != nil {
		return fmt.Errorf("envoy admin: %w", err)
	}
	e.AdminAddr = addr
	return nil
}

// WaitLive waits until GET /ready answers "LIVE".
func (e *Envoy) WaitLive(ctx context.Context) error {
	return waitFor(ctx, "envoy "+e.Name+" LIVE", func() error {
		if err := e.proc.errIfExited(); err != nil {
			return err
		}
		body, _, err := e.admin(ctx, "/ready")
		if err != nil {
			return err
		}
		if state := strings.TrimSpace(string(body)); state != "LIVE" {
			return fmt.Errorf("server state %s", state)
		}
		return nil
	})
}

// Close stops Envoy.
func (e *Envoy) Close() { e.proc.stop(5 * time.Second) }

// Running reports an error if the process has exited.
func (e *Envoy) Running() error { return e.proc.errIfExited() }

// LogPath is the file holding Envoy's output.
func (e *Envoy) LogPath() string { return e.proc.logPath }

// LogTail returns the last n lines of Envoy's output.
func (e *Envoy) LogTail(n int) string { return e.proc.logTail(n) }

// admin GETs path from the admin interface.
func (e *Envoy) admin(ctx context.Context, path string) ([]byte, int, error) {
	if e.AdminAddr == "" {
		return nil, 0, fmt.Errorf("envoy %s: admin address not known yet", e.Name)
	}
	return httpGet(ctx, "http://"+e.AdminAddr+path)
}

// Admin GETs path from the admin interface and fails unless it answers 200.
func (e *Envoy) Admin(ctx context.Context, path string) ([]byte, error) {
	body, status, err := e.admin(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("envoy %s admin %s: %w", e.Name, path, err)
	}
	if status != 200 {
		return nil, fmt.Errorf("envoy %s admin %s answered %d: %s", e.Name, path, status, body)
	}
	return body, nil
}

// ConfigDump returns /config_dump, optionally restricted by a query such as
// "resource=dynamic_route_configs".
func (e *Envoy) ConfigDump(ctx context.Context, query string) ([]byte, error) {
	path := "/config_dump"
	if query != "" {
		path += "?" + query
	}
	return e.Admin(ctx, path)
}

// StartSidecar bootstraps an Envoy for node from is (`isthmus bootstrap`)
// and starts it, retrying with another admin port if the one picked was
// taken in the meantime.
func StartSidecar(ctx context.Context, is *Isthmus, name string, node Node, logDir string) (*Envoy, error) {
	return startSidecar(ctx, is, name, node, logDir, false)
}

// StartRefusedSidecar is StartSidecar for an Envoy Isthmus is expected to
// refuse: it returns once Envoy's admin interface answers.
func StartRefusedSidecar(ctx context.Context, is *Isthmus, name string, node Node, logDir string) (*Envoy, error) {
	return startSidecar(ctx, is, name, node, logDir, true)
}

func startSidecar(ctx context.Context, is *Isthmus, name string, node Node, logDir string, notLive bool) (*Envoy, error) {
	var lastErr error
	for range 3 {
		adminAddr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		bootstrap, err := is.Bootstrap(node, adminAddr)
		if err != nil {
			return nil, err
		}
		e, err := StartEnvoy(ctx, EnvoyOptions{Name: name, Bootstrap: bootstrap, LogDir: logDir, NotLive: notLive})
		if err == nil {
			return e, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "exited early") || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// LogGrep returns the last 20 lines of Envoy's output that contain any of
// substrs, such as the reasons it gave for rejecting a configuration.
func (e *Envoy) LogGrep(substrs ...string) string {
	return fileGrep(e.proc.logPath, 20, substrs...)
}
