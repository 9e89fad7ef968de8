package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validRoute = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}
`

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateAcceptsGoodConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "routes", "reviews.yaml"), validRoute)
	var stdout, stderr bytes.Buffer
	if code := runValidate([]string{dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if got := stdout.String(); got != "OK: 2 objects (1 DestinationRule, 1 VirtualService)\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestValidateReportsEachProblem(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, filepath.Join(dir, "bad.yaml"), strings.Replace(validRoute, "subset: v1", "subset: v2", 1)+`---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [reviews]}]}
`)
	var stdout, stderr bytes.Buffer
	code := runValidate([]string{bad, filepath.Join(dir, "missing.yaml")}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	want := []string{
		"missing.yaml: cannot read",
		"bad.yaml#1: VirtualService bookinfo/reviews: spec.http[0].route[0].destination.subset: subset v2",
		"bad.yaml#3: Gateway default/gw: spec.servers[0].hosts[0]: short name",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), stdout.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
	if !strings.Contains(stderr.String(), "3 problem") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestValidateUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runValidate(nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "Usage") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// validate applies the size caps serve applies, and takes the same flags.
func TestValidateSizeCaps(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "reviews.yaml"), validRoute+"# "+strings.Repeat("x", 2048)+"\n")
	var stdout, stderr bytes.Buffer
	if code := runValidate([]string{"--max-file-size", "2KiB", dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stdout.String())
	}
	if want := path + ": the file is 2419 bytes (2.4 KiB), more than the limit of 2 KiB per file"; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout %q, want it to start with %q", stdout.String(), want)
	}
	stdout.Reset()
	if code := runValidate([]string{"--max-document-size", "1KiB", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stdout.String())
	}
	if want := path + "#2: the document is 2223 bytes (2.2 KiB), more than the limit of 1 KiB per document"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q, want it to contain %q", stdout.String(), want)
	}
	stdout.Reset()
	if code := runValidate([]string{dir}, &stdout, &stderr); code != 0 {
		t.Errorf("default caps: exit %d\n%s", code, stdout.String())
	}
}
