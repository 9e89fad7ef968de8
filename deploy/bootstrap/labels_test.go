package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The labels file as the kubelet writes it: one key="value" per line,
// values quoted with Go escapes.
func TestReadLabelsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "labels")
	if err := os.WriteFile(good, []byte("app=\"reviews\"\npod-template-hash=\"7d4c9f8b6b\"\nnote=\"a \\\"quoted\\\" word\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	labels, err := ReadLabelsFile(good)
	if err != nil || len(labels) != 3 || labels["app"] != "reviews" || labels["note"] != `a "quoted" word` {
		t.Fatalf("labels %v, %v", labels, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("app=\"reviews\"\nversion=v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLabelsFile(bad); err == nil || !strings.Contains(err.Error(), bad+":2") {
		t.Fatalf("bad file: %v, want an error naming %s:2", err, bad)
	}
}
