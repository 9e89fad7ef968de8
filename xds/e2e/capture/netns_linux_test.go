package capture

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` mounts named namespaces.
const netnsDir = "/run/netns"

// netns is a named network namespace with a thread of this process living
// in it. Sockets opened and processes started through that thread belong to
// the namespace; the thread stays until close, so children started with a
// parent-death signal live exactly as long as the namespace is in use.
type netns struct {
	name string
	jobs chan func()
	done chan struct{} // closed when the thread has left
}

// newNetns creates the namespace name (`ip netns add`), brings its loopback
// up and starts its thread.
func newNetns(name string) (*netns, error) {
	if _, err := run("ip", "netns", "add", name); err != nil {
		return nil, err
	}
	n := &netns{name: name, jobs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go n.loop(ready)
	if err := <-ready; err != nil {
		_, _ = run("ip", "netns", "del", name)
		return nil, err
	}
	if err := n.ip("link", "set", "lo", "up"); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// loop moves a locked OS thread into the namespace and runs jobs on it. The
// thread is never unlocked: when loop returns, Go ends the thread instead of
// reusing it in the wrong namespace.
func (n *netns) loop(ready chan<- error) {
	defer close(n.done)
	runtime.LockOSThread()
	if err := enterNetns(n.name); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for job := range n.jobs {
		job()
	}
}

func enterNetns(name string) error {
	f, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter namespace %s: %w", name, err)
	}
	return nil
}

// do runs f on the namespace's thread and waits for it. f must not call do.
func (n *netns) do(f func()) {
	finished := make(chan struct{})
	n.jobs <- func() {
		defer close(finished)
		f()
	}
	<-finished
}

// close ends the thread and deletes the namespace (with the interfaces in
// it). Processes started in it must have been stopped first.
func (n *netns) close() error {
	close(n.jobs)
	<-n.done
	_, err := run("ip", "netns", "del", n.name)
	return err
}

// ip runs `ip -n NAME args...`.
func (n *netns) ip(args ...string) error {
	_, err := run("ip", append([]string{"-n", n.name}, args...)...)
	return err
}

// dial connects from inside the namespace.
func (n *netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	var err error
	n.do(func() {
		d := net.Dialer{Timeout: 2 * time.Second}
		conn, err = d.DialContext(ctx, network, addr)
	})
	return conn, err
}

// listen opens a TCP listener inside the namespace.
func (n *netns) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	var err error
	n.do(func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, n.name, err)
	}
	return ln, nil
}

// startCmd starts cmd inside the namespace.
func (n *netns) startCmd(cmd *exec.Cmd) error {
	var err error
	n.do(func() { err = cmd.Start() })
	return err
}

// run executes bin to completion; the error carries its output.
func run(bin string, args ...string) ([]byte, error) {
	return runInput("", bin, args...)
}

// runInput is run with stdin fed from input.
func runInput(input, bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
