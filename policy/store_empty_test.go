package policy

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// truncate empties the file at path, as an editor does before writing.
func truncate(t *testing.T, path string) {
	t.Helper()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// emptiedFiles counts the files the store holds objects of while empty.
func (s *Store) emptiedFiles() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.emptied)
}

// A file found empty keeps its objects until EmptyFileGrace has passed since
// the first scan that found it empty; written again meanwhile, it is simply
// read; left empty, its objects go.
func TestStoreEmptiedFileKeepsObjectsForGrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	writeFile(t, filepath.Join(dir, "b.yaml"), gatewayYAML("b", 81))
	s := NewStore(dir, nil, Limits{})
	clock := time.Now()
	s.now = func() time.Time { return clock }
	s.Load()

	truncate(t, path)
	for _, after := range []time.Duration{0, EmptyFileGrace - time.Millisecond} {
		clock = clock.Add(after)
		if cfg, problems := s.Load(); gatewayPort(t, cfg, "a") != 80 || len(problems) != 0 {
			t.Fatalf("%v after truncation: port %d, problems %v; want the objects kept", after, gatewayPort(t, cfg, "a"), problems)
		}
	}
	writeFile(t, path, gatewayYAML("a", 8080))
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 8080 {
		t.Fatalf("rewritten file: port %d", gatewayPort(t, cfg, "a"))
	}

	truncate(t, path)
	clock = clock.Add(time.Second) // a new grace starts at this scan
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 8080 {
		t.Fatal("emptied a second time: objects removed at once")
	}
	clock = clock.Add(EmptyFileGrace)
	cfg, problems := s.Load()
	if cfg.Get(Key{KindGateway, "ns", "a"}) != nil || gatewayPort(t, cfg, "b") != 81 || len(problems) != 0 {
		t.Errorf("after the grace: config %v problems %v, want only gateway b", cfg.Objects(), problems)
	}
	if cfg, _ := s.Load(); cfg.Get(Key{KindGateway, "ns", "a"}) != nil {
		t.Error("the empty file's objects came back")
	}
}

// A file that was empty from the start, or defined nothing, is not held.
func TestStoreEmptyFileWithoutObjectsIsNotHeld(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "empty.yaml"), "")
	writeFile(t, filepath.Join(dir, "comments.yaml"), "# nothing yet\n")
	s := NewStore(dir, nil, Limits{})
	s.Load()
	truncate(t, filepath.Join(dir, "comments.yaml"))
	s.Load()
	if n := s.emptiedFiles(); n != 0 {
		t.Errorf("%d files held", n)
	}
}

// Truncate, then write 300ms later, as some editors do: Run never publishes
// a configuration without the file's objects. The grace is long here so that
// a slow machine cannot outlast it.
func TestStoreRunTruncateThenWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	s.rescanEvery, s.emptyGrace = time.Hour, time.Hour
	reports := runStoreReports(t, s)
	servesA := func(r report) {
		if gatewayPort(t, r.cfg, "a") == 0 {
			t.Errorf("a configuration without gateway a was published (problems %v)", r.problems)
		}
	}
	waitReport(t, reports, "the initial config", servesA, func(r report) bool { return gatewayPort(t, r.cfg, "a") == 80 })

	truncate(t, path)
	waitUntil(t, "a scan of the empty file", func() bool { return s.emptiedFiles() == 1 })
	if cfg, _ := s.current(); gatewayPort(t, cfg, "a") != 80 {
		t.Fatal("objects of the truncated file not served after the quiet period")
	}
	time.Sleep(300 * time.Millisecond)
	writeFile(t, path, gatewayYAML("a", 81))
	waitReport(t, reports, "the rewritten file", servesA, func(r report) bool { return gatewayPort(t, r.cfg, "a") == 81 })
	if n := s.emptiedFiles(); n != 0 {
		t.Errorf("%d files still held after the rewrite", n)
	}
}

// A file left empty loses its objects once the grace is over, without any
// further change to the directory, and not before.
func TestStoreRunEmptiedFileRemovedAfterGrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	writeFile(t, filepath.Join(dir, "b.yaml"), gatewayYAML("b", 81))
	s := NewStore(dir, nil, Limits{})
	s.rescanEvery, s.emptyGrace = time.Hour, 300*time.Millisecond
	changes := runStore(t, s)
	waitFor(t, changes, "the initial config", func(c *Config) bool { return gatewayPort(t, c, "a") == 80 })

	truncated := time.Now()
	truncate(t, path)
	waitFor(t, changes, "gateway a removed", func(c *Config) bool {
		return c.Get(Key{KindGateway, "ns", "a"}) == nil && gatewayPort(t, c, "b") == 81
	})
	if waited := time.Since(truncated); waited < s.emptyGrace {
		t.Errorf("objects removed %v after the truncation, before the %v grace", waited, s.emptyGrace)
	}
}

// current returns what the store serves now, without scanning.
func (s *Store) current() (*Config, []*ConfigError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config, s.problems
}
