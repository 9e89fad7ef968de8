package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// padding is a YAML comment of n bytes, newline included.
func padding(n int) string {
	return "#" + strings.Repeat("x", n-2) + "\n"
}

// A file over the size limit is not read: the problem names the file and
// both sizes, its objects keep their last good version, and it is read again
// once it is back under the limit.
func TestStoreFileOverLimitKeepsItsObjects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{MaxFileBytes: 2048})
	s.Load()
	writeFile(t, path, gatewayYAML("a", 81)+padding(4096))
	cfg, problems := s.Load()
	if gatewayPort(t, cfg, "a") != 80 {
		t.Errorf("port %d, want the last good 80", gatewayPort(t, cfg, "a"))
	}
	if len(problems) != 1 || problems[0].Source.File != path ||
		!strings.Contains(problems[0].Msg, "more than the limit of 2 KiB per file") {
		t.Fatalf("problems %v", problems)
	}
	writeFile(t, path, gatewayYAML("a", 82))
	if cfg, problems = s.Load(); gatewayPort(t, cfg, "a") != 82 || len(problems) != 0 {
		t.Errorf("file back under the limit: port %d, problems %v", gatewayPort(t, cfg, "a"), problems)
	}
}

// A document over the size limit is not decoded: the problem names the file
// and the document, its object keeps its last good version, and the other
// documents of the file are applied.
func TestStoreDocumentOverLimitKeepsItsObject(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gws.yaml")
	writeFile(t, path, gatewayYAML("a", 80)+"---\n"+gatewayYAML("b", 90))
	s := NewStore(dir, nil, Limits{MaxDocumentBytes: 1024})
	s.Load()
	writeFile(t, path, gatewayYAML("a", 81)+"---\n"+gatewayYAML("b", 91)+padding(2048))
	cfg, problems := s.Load()
	if gatewayPort(t, cfg, "a") != 81 || gatewayPort(t, cfg, "b") != 90 {
		t.Errorf("ports a=%d b=%d, want the new 81 and the last good 90", gatewayPort(t, cfg, "a"), gatewayPort(t, cfg, "b"))
	}
	if len(problems) != 1 || problems[0].Error() != path+"#2: the document is 2214 bytes (2.2 KiB), more than the limit of 1 KiB per document; not decoded" {
		t.Errorf("problems %v", problems)
	}
}

// LoadPathsWith applies the caps to files named directly and to files in
// directories.
func TestLoadPathsWithLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "sub", "big.yaml")
	writeFile(t, big, gatewayYAML("a", 80)+padding(4096))
	for _, p := range []string{dir, big} {
		cfg, problems := LoadPathsWith([]string{p}, Limits{MaxFileBytes: 1024})
		if cfg.Len() != 0 || len(problems) != 1 || problems[0].Source.File != big || !strings.Contains(problems[0].Msg, "per file") {
			t.Errorf("%s: config %v problems %v", p, cfg.Objects(), problems)
		}
	}
	if cfg, problems := LoadPaths([]string{dir}); cfg.Len() != 1 || len(problems) != 0 {
		t.Errorf("default limits: config %v problems %v", cfg.Objects(), problems)
	}
}

// readCapped refuses a file over the limit by its size, before reading it.
func TestReadCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, make([]byte, 3000), 0o644); err != nil {
		t.Fatal(err)
	}
	var se *sizeError
	if _, err := readCapped(path, 2999); !errors.As(err, &se) || se.size != 3000 {
		t.Errorf("readCapped over the limit: %v", err)
	}
	if data, err := readCapped(path, 3000); err != nil || len(data) != 3000 {
		t.Errorf("readCapped at the limit: %d bytes, %v", len(data), err)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		512: "512 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 16 << 20: "16 MiB", 52_428_800: "50 MiB", 3 << 30: "3 GiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
