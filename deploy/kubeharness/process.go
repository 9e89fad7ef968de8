package kubeharness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a component has to exit after SIGTERM before it
// is killed.
const stopGrace = 10 * time.Second

// component is one process of a cluster: the multi-call binary run as
// name with fixed args (or any command line), logging to name.log. It may
// be started and stopped any number of times; each start appends to the
// same log.
type component struct {
	name    string
	argv    []string // the command line, argv[0] the program
	logPath string

	mu  sync.Mutex
	run *run // nil while stopped
}

// run is one execution of a component.
type run struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // the exit status, valid once done is closed
}

// newComponent runs the multi-call binary bin as component name.
func newComponent(bin, dir, name string, args ...string) *component {
	return newCommand(dir, name, append([]string{bin, name}, args...)...)
}

// newCommand runs argv as component name, logging to dir/name.log.
func newCommand(dir, name string, argv ...string) *component {
	return &component{name: name, argv: argv, logPath: filepath.Join(dir, name+".log")}
}

// start runs the component unless it is already running.
func (c *component) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run != nil && !c.run.exited() {
		return nil
	}
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", c.name, err)
	}
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("%s: start %s: %w", c.name, c.argv[0], err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		log.Close()
		close(r.done)
	}()
	c.run = r
	return nil
}

// stop ends the component (SIGTERM, then SIGKILL after stopGrace) and
// waits for it to exit. Stopping a stopped component does nothing.
func (c *component) stop() { c.stopWithin(stopGrace) }

// stopWithin is stop with grace in place of stopGrace.
func (c *component) stopWithin(grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		return
	}
	r := c.run
	c.run = nil
	if r.exited() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(grace):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// errPortTaken marks a component that exited because its port was taken.
var errPortTaken = errors.New("port already in use")

// failed returns an error describing the component's exit, with its log's
// tail, if it was started and has exited; nil while it runs.
func (c *component) failed() error {
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil || !r.exited() {
		return nil
	}
	tail := c.logTail(30)
	if strings.Contains(tail, "address already in use") {
		return fmt.Errorf("%s exited (%v, %w); %s", c.name, r.err, errPortTaken, tail)
	}
	return fmt.Errorf("%s exited (%v); %s", c.name, r.err, tail)
}

// pid is the running process's id, or 0.
func (c *component) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil || c.run.exited() {
		return 0
	}
	return c.run.cmd.Process.Pid
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// logTail is the last n lines of the component's log, headed by its path.
func (c *component) logTail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("no log %s: %v", c.logPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("last %d lines of %s:\n%s", len(lines), c.logPath, bytes.Join(lines, []byte("\n")))
}
