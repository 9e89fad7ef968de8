package statefile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/discovery"
)

func catalogWith(address string) *discovery.Catalog {
	key := discovery.ServiceKey{Hostname: "web.service.consul", Namespace: "default"}
	svc := &discovery.Service{ServiceKey: key, Ports: []discovery.Port{{Name: "http", Number: 80, Protocol: discovery.ProtocolHTTP}}}
	eps := map[discovery.ServiceKey][]*discovery.Endpoint{key: {{Address: address, Port: 80, ServicePort: 80, Cluster: "dc1"}}}
	return discovery.NewCatalog([]*discovery.Service{svc}, eps)
}

// A catalog offered is written (0600, in a 0700 directory made for it) and
// read back equal by a new File; the file is rewritten when the catalog
// changes, and once more when Run ends.
func TestOfferedCatalogIsWrittenAndLoaded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clusters")
	f := New(dir, "dc1", nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	f.Offer(catalogWith("10.0.0.1"))
	waitFor(t, func() bool { c, _, _ := New(dir, "dc1", nil).Load(); return c != nil })
	f.Offer(catalogWith("10.0.0.2"))
	cancel()
	<-done

	got, written, err := New(dir, "dc1", nil).Load()
	if err != nil || got == nil || !got.Equal(catalogWith("10.0.0.2")) || written.IsZero() {
		t.Fatalf("Load after Run ended: catalog %v, written %v, error %v; want the last catalog offered", got, written, err)
	}
	if info, err := os.Stat(f.Path()); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v, want 0600", info.Mode(), err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode: %v %v, want 0700", info.Mode(), err)
	}
}

// No file: no catalog and no error. Another source's file is refused.
func TestLoadRefusesAnotherSourcesFile(t *testing.T) {
	dir := t.TempDir()
	if c, _, err := New(dir, "dc1", nil).Load(); c != nil || err != nil {
		t.Fatalf("Load without a file: %v, %v", c, err)
	}
	data := `{"cluster":"dc2","written":"2026-01-01T00:00:00Z","catalog":{"format":1,"services":[],"endpoints":[],"gateways":null}}`
	if err := os.WriteFile(Path(dir, "dc1"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := New(dir, "dc1", nil).Load(); err == nil || !strings.Contains(err.Error(), `"dc2"`) {
		t.Errorf("Load of dc2's catalog as dc1: %v, want an error naming dc2", err)
	}
}

// A state file over MaxSize is not read.
func TestOversizedStateFileIsNotRead(t *testing.T) {
	f := New(t.TempDir(), "east", nil)
	if err := os.WriteFile(f.Path(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(f.Path(), MaxSize+1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Load(); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("load of an oversized file: %v", err)
	}
}

func TestPathStaysInItsDirectory(t *testing.T) {
	for id, want := range map[string]string{
		"east":         "/s/east.json",
		"../etc/x":     "/s/%2E.%2Fetc%2Fx.json",
		"..":           "/s/%2E..json",
		"a b/c":        "/s/a%20b%2Fc.json",
		"cluster-1.eu": "/s/cluster-1.eu.json",
	} {
		if got := Path("/s", id); got != want {
			t.Errorf("Path(%q) = %q, want %q", id, got, want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
