package consulagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/freeport"
)

// Version is the Consul release tools/consul builds (MPL-2.0; later
// releases are under the Business Source License and never used).
const Version = "v1.16.3"

// BinaryEnv names the environment variable that, when set, gives the
// Consul binary's path instead of the cache.
const BinaryEnv = "ISTHMUS_CONSUL_BIN"

// startTimeout bounds how long Start waits for the agent to lead.
const startTimeout = 30 * time.Second

// Options configure an agent.
type Options struct {
	// Datacenter is the agent's datacenter; "dc1" when empty.
	Datacenter string
	// MaxConnsPerClient is Consul's limits.http_max_conns_per_client;
	// Consul's default (200) when zero.
	MaxConnsPerClient int
	// LogDir holds the agent's log; a temporary directory when empty.
	LogDir string
}

// Agent is one running dev agent.
type Agent struct {
	// Addr is the HTTP API's HOST:PORT on 127.0.0.1.
	Addr    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// BinaryPath returns the Consul binary (see the package contract).
func BinaryPath() (string, error) {
	path, from := os.Getenv(BinaryEnv), BinaryEnv
	if path == "" {
		dir, err := cacheDir()
		if err != nil {
			return "", err
		}
		path, from = filepath.Join(dir, "consul", Version, "consul"), "the cache"
	}
	info, err := os.Stat(path)
	if err == nil && (info.IsDir() || info.Mode().Perm()&0o111 == 0) {
		err = fmt.Errorf("%s is not an executable file", path)
	}
	if err != nil {
		return "", fmt.Errorf("the consul binary (Consul %s) from %s: %w; run `make consul-bin` to build it (about 6 minutes, once)", Version, from, err)
	}
	return path, nil
}

// cacheDir is Isthmus's cache directory, as tools/consul/build.sh computes it.
func cacheDir() (string, error) {
	if dir := os.Getenv("ISTHMUS_CACHE"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "isthmus"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", errors.New("no cache directory: ISTHMUS_CACHE, XDG_CACHE_HOME and HOME are all unset")
	}
	return filepath.Join(home, ".cache", "isthmus"), nil
}

// StartT starts an agent that stops when t ends; t fails if it cannot.
func StartT(t testing.TB, opts Options) *Agent {
	t.Helper()
	if opts.LogDir == "" {
		opts.LogDir = t.TempDir()
	}
	a, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// pickPorts picks the agent's ports (tests replace it).
var pickPorts = freeport.Pick

// startAttempts is how many sets of ports Start tries: a port found free
// may be taken before the agent binds it (by another test's process, or
// as the source port of a connection on this machine), and the agent then
// exits with "address already in use".
const startAttempts = 3

// Start runs a dev agent and returns once it leads its datacenter.
func Start(opts Options) (*Agent, error) {
	bin, err := BinaryPath()
	if err != nil {
		return nil, err
	}
	if opts.LogDir == "" {
		if opts.LogDir, err = os.MkdirTemp("", "consul-agent-"); err != nil {
			return nil, err
		}
	}
	for attempt := 1; ; attempt++ {
		a, err := startOnFreePorts(bin, opts)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return a, err
		}
	}
}

// errPortTaken is why an agent exited when a port it was given was taken
// meanwhile.
var errPortTaken = errors.New("a port was taken before the agent bound it")

// startOnFreePorts runs an agent on ports free when it is started.
func startOnFreePorts(bin string, opts Options) (*Agent, error) {
	ports, err := pickPorts(4)
	if err != nil {
		return nil, err
	}
	a := &Agent{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), logPath: filepath.Join(opts.LogDir, "consul.log"), done: make(chan struct{})}
	if err := a.start(bin, agentArgs(opts, ports)); err != nil {
		return nil, err
	}
	if err := a.waitLeader(); err != nil {
		a.Stop()
		tail := a.LogTail(20)
		if strings.Contains(tail, "address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, fmt.Errorf("consul agent on %s: %w\n%s", a.Addr, err, tail)
	}
	return a, nil
}

// agentArgs are the dev agent's flags: loopback only, ports given (HTTP,
// server, serf LAN, serf WAN), DNS and gRPC off.
func agentArgs(opts Options, ports []int) []string {
	dc := opts.Datacenter
	if dc == "" {
		dc = "dc1"
	}
	hcl := fmt.Sprintf("ports { http = %d, server = %d, serf_lan = %d, serf_wan = %d, dns = -1, grpc = -1, grpc_tls = -1 }",
		ports[0], ports[1], ports[2], ports[3])
	args := []string{"agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1", "-datacenter", dc, "-node", "isthmus-test", "-hcl", hcl}
	if opts.MaxConnsPerClient > 0 {
		args = append(args, "-hcl", fmt.Sprintf("limits { http_max_conns_per_client = %d }", opts.MaxConnsPerClient))
	}
	return args
}

func (a *Agent) start(bin string, args []string) error {
	log, err := os.Create(a.logPath)
	if err != nil {
		return err
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = log, log
	a.cmd.SysProcAttr = childProcAttr()
	if err := a.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = a.cmd.Wait()
		log.Close()
		close(a.done)
	}()
	return nil
}

// waitLeader waits until the agent reports a leader.
func (a *Agent) waitLeader() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	url := "http://" + a.Addr + "/v1/status/leader"
	for {
		select {
		case <-a.done:
			return errors.New("exited before electing itself leader")
		case <-ctx.Done():
			return fmt.Errorf("no leader after %v", startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
		if leader, err := getWithin(ctx, url, time.Second); err == nil && strings.Trim(strings.TrimSpace(leader), `"`) != "" {
			return nil
		}
	}
}

// getWithin is get, given up after d: what answers at the agent's address
// may not be the agent (a port taken meanwhile), and the agent's exit must
// be seen.
func getWithin(ctx context.Context, url string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return get(ctx, url)
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(body), err
}

// Stop interrupts the agent and waits for it to exit (killed after 5 s).
// It may be called more than once.
func (a *Agent) Stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// PID is the agent's process id.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// LogPath is the agent's log file.
func (a *Agent) LogPath() string { return a.logPath }

// LogTail returns the last n lines of the agent's log.
func (a *Agent) LogTail(n int) string {
	data, _ := os.ReadFile(a.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
