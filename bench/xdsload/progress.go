package xdsload

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress reports a run's state: a redrawn bar on a terminal, a plain
// line every few seconds otherwise.
type progress struct {
	w        io.Writer
	terminal bool

	mu     sync.Mutex
	status func() (label string, done, total int)
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newProgress(w io.Writer, terminal bool) *progress {
	pr := &progress{w: w, terminal: terminal, stop: make(chan struct{})}
	if w == nil {
		return pr
	}
	interval := 5 * time.Second
	if terminal {
		interval = 200 * time.Millisecond
	}
	pr.wg.Add(1)
	go pr.loop(interval)
	return pr
}

// track makes status the current phase; nil pauses reporting.
func (pr *progress) track(status func() (string, int, int)) {
	pr.print(true) // finish the previous phase's line
	pr.mu.Lock()
	pr.status = status
	pr.mu.Unlock()
}

func (pr *progress) loop(interval time.Duration) {
	defer pr.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case <-t.C:
			pr.print(false)
		}
	}
}

// print writes the current state. final ends a terminal line.
func (pr *progress) print(final bool) {
	pr.mu.Lock()
	status := pr.status
	pr.mu.Unlock()
	if pr.w == nil || status == nil {
		return
	}
	label, done, total := status()
	if !pr.terminal {
		fmt.Fprintf(pr.w, "%s %s: %d/%d\n", time.Now().Format("15:04:05"), label, done, total)
		return
	}
	fmt.Fprintf(pr.w, "\r%-28s %s %d/%d\x1b[K", label, bar(done, total, 30), done, total)
	if final {
		fmt.Fprintln(pr.w)
	}
}

func bar(done, total, width int) string {
	filled := width
	if total > 0 {
		filled = min(width*done/total, width)
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

// close ends reporting, printing the final state.
func (pr *progress) close() {
	close(pr.stop)
	pr.wg.Wait()
	pr.track(nil)
}
