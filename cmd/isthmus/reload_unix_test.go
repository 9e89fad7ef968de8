//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// child is isthmus running in a child process.
type child struct {
	cmd  *exec.Cmd
	logs serveLogBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit, once done is closed
}

// startIsthmus runs isthmus with args in a child process (the test binary,
// see TestMain), killed when the test ends.
func startIsthmus(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), testMainEnv+"=1")
	c.cmd.Stdout, c.cmd.Stderr = &c.logs, &c.logs
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// waitForLog waits until the output holds line n times; it fails if the
// process exits first. The deadline only keeps a broken process from
// hanging the test.
func (c *child) waitForLog(t *testing.T, line string, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for strings.Count(c.logs.String(), line) < n {
		select {
		case <-c.done:
			t.Fatalf("isthmus exited (%v) before logging %q %d times:\n%s", c.err, line, n, c.logs.String())
		case <-deadline:
			t.Fatalf("isthmus never logged %q %d times:\n%s", line, n, c.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// SIGHUP makes isthmus serve re-read its configuration, and log it, instead
// of ending the process; again at every SIGHUP.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	c := startIsthmus(t, "serve", "--config-dir", dir, "--ephemeral-ca",
		"--xds-listen", "127.0.0.1:0", "--secure-listen", "127.0.0.1:0", "--monitoring-listen", "127.0.0.1:0")
	c.waitForLog(t, "snapshot published", 1)
	for i := 1; i <= 2; i++ {
		if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		c.waitForLog(t, `msg="re-reading the configuration" signal=hangup`, i)
		c.waitForLog(t, `msg="configuration re-read"`, i)
	}
	if !strings.Contains(c.logs.String(), "objects=1 problems=0") {
		t.Errorf("the reload does not report what it read:\n%s", c.logs.String())
	}
	select {
	case <-c.done:
		t.Fatalf("isthmus exited after SIGHUP: %v\n%s", c.err, c.logs.String())
	default:
	}
}
