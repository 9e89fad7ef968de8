package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// runStore starts Run in the background and returns a channel of the
// configs it reports.
func runStore(t *testing.T, s *Store) <-chan *Config {
	t.Helper()
	changes := make(chan *Config, 16)
	runStoreWith(t, s, func(cfg *Config, _ []*ConfigError) { changes <- cfg })
	return changes
}

// runStoreWith starts Run in the background with onChange, and stops it
// when the test ends.
func runStoreWith(t *testing.T, s *Store, onChange func(*Config, []*ConfigError)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, onChange) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor waits until a reported config satisfies ok; the deadline only
// keeps a broken watcher from hanging the test.
func waitFor(t *testing.T, changes <-chan *Config, what string, ok func(*Config) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case cfg := <-changes:
			if ok(cfg) {
				return
			}
		case <-deadline:
			t.Fatalf("never saw %s", what)
		}
	}
}

func TestStoreRunReportsChanges(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	s.rescanEvery = time.Hour // only fsnotify can deliver the changes
	changes := runStore(t, s)
	waitFor(t, changes, "the initial config", func(c *Config) bool { return gatewayPort(t, c, "a") == 80 })

	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 8080))
	waitFor(t, changes, "the edited gateway", func(c *Config) bool { return gatewayPort(t, c, "a") == 8080 })

	writeFile(t, filepath.Join(dir, "new", "nested", "b.yaml"), gatewayYAML("b", 81))
	waitFor(t, changes, "a file in a new subdirectory", func(c *Config) bool { return gatewayPort(t, c, "b") == 81 })

	writeFile(t, filepath.Join(dir, "new", "nested", "c.yaml"), gatewayYAML("c", 82))
	waitFor(t, changes, "a second file in the new subdirectory", func(c *Config) bool { return gatewayPort(t, c, "c") == 82 })

	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, changes, "the deleted file's gateway gone", func(c *Config) bool { return c.Get(Key{KindGateway, "ns", "a"}) == nil })
}

func TestStoreRunDirectoryReappears(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "config")
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	s, _ := newTestStore(dir)
	s.rescanEvery = time.Hour
	problems := make(chan []*ConfigError, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = s.Run(ctx, func(_ *Config, p []*ConfigError) { problems <- p })
	}()
	<-problems // initial scan
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitProblems(t, problems, 1)
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	waitProblems(t, problems, 0)
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 80 {
		t.Error("config lost")
	}
}

func waitProblems(t *testing.T, problems <-chan []*ConfigError, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-problems:
			if len(p) == n {
				return
			}
		case <-deadline:
			t.Fatalf("never saw %d problems", n)
		}
	}
}

func TestStoreRunPeriodicRescan(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir, nil, Limits{})
	s.rescanEvery = 10 * time.Millisecond
	s.debounce = time.Hour // fsnotify events never fire a rescan
	changes := runStore(t, s)
	writeFile(t, filepath.Join(dir, "a.yaml"), gatewayYAML("a", 80))
	waitFor(t, changes, "the file found by the periodic rescan", func(c *Config) bool { return gatewayPort(t, c, "a") == 80 })
}
