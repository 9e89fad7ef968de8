package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A CA directory others can write to is refused, and nothing is written
// there.
func TestLoadOrCreateCARefusesWritableDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateCA(dir, "")
	if err == nil || !strings.Contains(err.Error(), "writable by group or others (mode 0777)") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v, want a refusal naming the directory and its mode", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d files written into the refused directory", len(entries))
	}
}

// A CA key others can read is refused, naming the file; one only its group
// can read is accepted.
func TestLoadOrCreateCARefusesKeyReadableByOthers(t *testing.T) {
	dir, root, _ := intermediateDir(t)
	key := filepath.Join(dir, CAKeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateCA(dir, "")
	if err == nil || !strings.Contains(err.Error(), CAKeyFile+": readable by others (mode 0644)") {
		t.Fatalf("err = %v, want a refusal naming %s", err, CAKeyFile)
	}
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrCreateCA(dir, "")
	if err != nil || !bytes.Equal(ca.RootsPEM(), encodeCerts(root.cert)) {
		t.Fatalf("group-readable key: %v", err)
	}
}

// Processes creating the same CA directory at once end up with one root.
func TestLoadOrCreateCACreatesOneRootConcurrently(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "ca")
	roots := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range roots {
		wg.Go(func() {
			ca, err := LoadOrCreateCA(dir, "")
			if err != nil {
				t.Error(err)
				return
			}
			roots[i] = ca.RootsPEM()
		})
	}
	wg.Wait()
	for i, r := range roots {
		if !bytes.Equal(r, roots[0]) {
			t.Fatalf("creator %d got another root", i)
		}
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("CA directory mode %04o, want 0700", perm)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("%d entries beside the CA directory, want none (temporary directories left)", len(entries)-1)
	}
}
