package policy

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// report is one onChange call of Run.
type report struct {
	cfg      *Config
	problems []*ConfigError
}

// runStoreReports starts Run in the background and returns a channel of
// everything it reports.
func runStoreReports(t *testing.T, s *Store) <-chan report {
	t.Helper()
	reports := make(chan report, 64)
	runStoreWith(t, s, func(cfg *Config, problems []*ConfigError) { reports <- report{cfg, problems} })
	return reports
}

// waitReport waits until a report satisfies ok, checking every report on
// the way with each; the deadline only keeps a broken store from hanging
// the test.
func waitReport(t *testing.T, reports <-chan report, what string, each func(report), ok func(report) bool) report {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case r := <-reports:
			each(r)
			if ok(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("never saw %s", what)
		}
	}
}

// lockedBuffer collects log output written by Run's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A scan that fails for lack of file descriptors keeps serving the last
// configuration, keeps watching the directory, and retries by itself: the
// edit made during the failure is applied once descriptors are back, without
// another event, and a later edit is seen through the watch at once (the
// periodic rescan is an hour away).
func TestStoreRunRecoversFromFailedScan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	s.rescanEvery = time.Hour
	var exhausted atomic.Bool
	s.readDir = func(d string) ([]fs.DirEntry, error) {
		if exhausted.Load() {
			return nil, &fs.PathError{Op: "open", Path: d, Err: syscall.EMFILE}
		}
		return os.ReadDir(d)
	}
	reports := runStoreReports(t, s)
	servesA := func(r report) {
		if gatewayPort(t, r.cfg, "a") == 0 {
			t.Errorf("a configuration without gateway a was published (problems %v)", r.problems)
		}
	}
	waitReport(t, reports, "the initial config", servesA, func(r report) bool { return gatewayPort(t, r.cfg, "a") == 80 })

	exhausted.Store(true)
	writeFile(t, path, gatewayYAML("a", 81))
	failed := waitReport(t, reports, "the failed scan reported", servesA, func(r report) bool {
		return len(r.problems) == 1 && strings.Contains(r.problems[0].Msg, "too many open files")
	})
	if port := gatewayPort(t, failed.cfg, "a"); port != 80 {
		t.Errorf("during the failure port %d is served, want the last good 80", port)
	}

	exhausted.Store(false)
	waitReport(t, reports, "recovery applying the edit made during the failure", servesA, func(r report) bool {
		return gatewayPort(t, r.cfg, "a") == 81 && len(r.problems) == 0
	})
	writeFile(t, path, gatewayYAML("a", 82))
	waitReport(t, reports, "an edit after recovery", servesA, func(r report) bool { return gatewayPort(t, r.cfg, "a") == 82 })
}

// A subdirectory that cannot be listed stays watched, its files' objects
// kept.
func TestWatchListKeepsUnreadableSubdirectories(t *testing.T) {
	prev := []string{"/c", "/c/a", "/c/b", "/c/b/deep", "/c/bb"}
	got := watchList(prev, scanResult{dirs: []string{"/c", "/c/a", "/c/bb"}, unreadable: []string{"/c/b"}})
	want := []string{"/c", "/c/a", "/c/bb", "/c/b", "/c/b/deep"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("watch list %v, want %v", got, want)
	}
}

// Reload reads the directory again even when no event announced a change,
// and says so in the log.
func TestStoreReloadRereads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	var logs lockedBuffer
	s := NewStore(dir, slog.New(slog.NewTextHandler(&logs, nil)), Limits{})
	s.rescanEvery = time.Hour
	s.debounce = time.Hour // only Reload can deliver the edit
	changes := runStore(t, s)
	waitFor(t, changes, "the initial config", func(c *Config) bool { return gatewayPort(t, c, "a") == 80 })
	writeFile(t, path, gatewayYAML("a", 81))
	s.Reload()
	waitFor(t, changes, "the edit read by Reload", func(c *Config) bool { return gatewayPort(t, c, "a") == 81 })
	waitUntil(t, "the reload logged", func() bool { return strings.Contains(logs.String(), "configuration re-read") })
}

// waitUntil polls cond; the deadline only keeps a broken store from
// hanging the test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
