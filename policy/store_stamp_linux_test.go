//go:build linux

package policy

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A settled file rewritten in place with its size and modification time
// preserved (cp -p, rsync --inplace -t) is seen through its change time.
func TestStoreSeesRewriteThatKeepsSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	old := time.Now().Add(-time.Hour)
	writeFile(t, path, gatewayYAML("a", 80))
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	s := NewStore(dir, nil, Limits{})
	s.Load()
	time.Sleep(10 * time.Millisecond) // let the change time move on coarse clocks
	writeFile(t, path, gatewayYAML("a", 81))
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 81 {
		t.Errorf("rewrite not seen: port %d", gatewayPort(t, cfg, "a"))
	}
}
