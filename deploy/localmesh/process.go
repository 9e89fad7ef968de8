package localmesh

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a child process whose stdout and stderr go to a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	exitErr error         // valid once done is closed

	closeOnce sync.Once
}

// startProcess runs bin with args, writing its output to logPath.
func startProcess(name, logPath, bin string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: create log file: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, with its exit error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.exitErr
	default:
		return false, nil
	}
}

// errIfExited describes an early exit, or returns nil while the process runs.
func (p *process) errIfExited() error {
	if ended, err := p.exited(); ended {
		return fmt.Errorf("%s exited early (%v); log %s:\n%s", p.name, err, p.logPath, p.logTail(40))
	}
	return nil
}

// stop asks the process to end (SIGTERM), then kills it after grace.
func (p *process) stop(grace time.Duration) {
	p.closeOnce.Do(func() {
		if ended, _ := p.exited(); ended {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// kill ends the process at once (SIGKILL) and waits for it.
func (p *process) kill() {
	p.closeOnce.Do(func() {
		if ended, _ := p.exited(); !ended {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
	})
}

// logTail returns the last n lines of the process log.
func (p *process) logTail(n int) string {
	return fileTail(p.logPath, n)
}

func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// runOutput runs bin with args to completion and returns its stdout; the
// error carries stderr.
func runOutput(bin string, args ...string) ([]byte, error) {
	return runOutputIn("", bin, args...)
}

// runOutputIn is runOutput with the working directory set to dir ("" keeps
// the current one).
func runOutputIn(dir, bin string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	return stdout.Bytes(), nil
}

// fileGrep returns the lines of path that contain any of substrs, at most
// the last max of them.
func fileGrep(path string, max int, substrs ...string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var found []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, s := range substrs {
			if strings.Contains(line, s) {
				found = append(found, line)
				break
			}
		}
	}
	if len(found) > max {
		found = found[len(found)-max:]
	}
	return strings.Join(found, "\n")
}
