package policy

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// foundAt stats path as a scan would.
func foundAt(t *testing.T, path string) foundFile {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return foundFile{path: path, real: path, stamp: stampOf(path, info)}
}

func firstGatewayPort(t *testing.T, cf *cachedFile) int {
	t.Helper()
	if len(cf.defs) != 1 || cf.defs[0].Object == nil {
		t.Fatalf("definitions %v", cf.defs)
	}
	return gatewayPort(t, NewConfig([]*Object{cf.defs[0].Object}), cf.defs[0].Key.Name)
}

// A file whose stamp is unchanged is trusted only if it was already old when
// read: a write in the same clock tick as the last scan leaves the stamp
// as it was on coarse file systems, so a fresh file is read again.
func TestStoreTrustsOnlySettledStamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s := NewStore(filepath.Dir(path), nil, Limits{})
	f := foundAt(t, path)
	now := scanOptions{start: time.Unix(0, f.stamp.mtime)}

	fresh, err := s.decodedVersion(f, now)
	if err != nil || fresh.settled {
		t.Fatalf("a file changed just now counts as settled (err %v)", err)
	}
	s.cache[path] = fresh
	writeFile(t, path, gatewayYAML("a", 81)) // same size; f keeps the old stamp
	if again, _ := s.decodedVersion(f, now); firstGatewayPort(t, again) != 81 {
		t.Error("an unsettled file was not read again")
	}

	later := scanOptions{start: now.start.Add(settleTime + time.Second)}
	settled, _ := s.decodedVersion(f, later)
	if !settled.settled || firstGatewayPort(t, settled) != 81 {
		t.Fatal("a file older than the settle time is not settled")
	}
	s.cache[path] = settled
	if reused, _ := s.decodedVersion(f, later); reused != settled {
		t.Error("a settled file with an unchanged stamp was read again")
	}
	writeFile(t, path, gatewayYAML("a", 82)) // f keeps the old stamp
	later.reread = true
	if verified, _ := s.decodedVersion(f, later); firstGatewayPort(t, verified) != 82 {
		t.Error("a scan that trusts no stamp did not read the file")
	}
}

// Editing a file that is already settled is seen, even when the new version
// has the same size.
func TestStoreSeesEditOfSettledFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	s := NewStore(dir, nil, Limits{})
	s.Load()
	s.Load() // the file is settled: this scan does not read it
	writeFile(t, path, gatewayYAML("a", 81))
	if cfg, _ := s.Load(); gatewayPort(t, cfg, "a") != 81 {
		t.Errorf("edit not seen: port %d", gatewayPort(t, cfg, "a"))
	}
}

func TestStoreInvalidEditKeepsTheSameConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, gatewayYAML("a", 80))
	s := NewStore(dir, nil, Limits{})
	first, _ := s.Load()
	writeFile(t, path, gatewayYAML("a", 0))
	second, problems := s.Load()
	if second != first || len(problems) != 1 {
		t.Errorf("an edit that changes no served object rebuilt the Config (problems %v)", problems)
	}
}
