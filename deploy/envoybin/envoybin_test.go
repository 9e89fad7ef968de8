package envoybin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPathFindsInstalledEnvoy(t *testing.T) {
	p, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	if checkExecutable(p) != nil {
		t.Fatalf("Path() = %s, which is not executable", p)
	}
}

func TestPathHonoursEnvoyBin(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "my-envoy")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENVOY_BIN", fake)
	if p, err := Path(); err != nil || p != fake {
		t.Fatalf("Path() = %q, %v; want %q", p, err, fake)
	}
}

func TestPathReportsBadEnvoyBin(t *testing.T) {
	t.Setenv("ENVOY_BIN", filepath.Join(t.TempDir(), "missing"))
	_, err := Path()
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Path() error = %v; want one that mentions make tools", err)
	}
}
