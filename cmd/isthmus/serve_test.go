package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const reviewsServiceEntry = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
  namespace: default
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  endpoints:
  - address: 10.1.0.1
`

func TestServeRejectsMissingConfigDir(t *testing.T) {
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nowhere")
	if code := runServe([]string{"--config-dir", missing}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), missing) {
		t.Errorf("stderr does not name the directory: %q", stderr.String())
	}
}

func TestServeFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--config-dir", ".", "--log-format", "xml"},
		{"--config-dir", ".", "--log-level", "loud"},
		{"--config-dir", ".", "--debounce", "1s", "--debounce-max", "10ms"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runServe(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

// serveLogBuffer collects log output written from several goroutines.
type serveLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *serveLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *serveLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeLoadsAndWatchesConfig(t *testing.T) {
	dir := t.TempDir()
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	var logs serveLogBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 2)
	done := make(chan error, 1)
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0",
		debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond}
	go func() {
		done <- serve(ctx, opts, logger, func(xds, monitoring net.Addr) { addrs <- xds; addrs <- monitoring })
	}()
	var xds, monitoring net.Addr
	select {
	case xds = <-addrs:
		monitoring = <-addrs
	case err := <-done:
		t.Fatalf("serve stopped before listening: %v\n%s", err, logs.String())
	}
	base := "http://" + monitoring.String()

	waitForServeTest(t, "/readyz to return 200", func() bool { code, _ := getServeTestURL(t, base+"/readyz"); return code == 200 })
	if !strings.Contains(logs.String(), "xds="+xds.String()) {
		t.Errorf("no startup line naming the xDS address in:\n%s", logs.String())
	}
	if _, metrics := getServeTestURL(t, base+"/metrics"); !strings.Contains(metrics, "isthmus_config_errors 0") {
		t.Errorf("config errors reported for a valid directory:\n%s", metrics)
	}

	writeServeTestFile(t, filepath.Join(dir, "broken.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad}\nspec: {hosts: 7}\n")
	waitForServeTest(t, "the bad file to be counted", func() bool {
		_, metrics := getServeTestURL(t, base+"/metrics")
		return strings.Contains(metrics, "isthmus_config_errors 1") && strings.Contains(metrics, "isthmus_snapshot_version 2")
	})
	if code, _ := getServeTestURL(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d after bad config, want 200", code)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func writeServeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func getServeTestURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func waitForServeTest(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A CA directory that holds a key but no certificate is refused at start,
// naming the flag, and nothing in it is overwritten.
func TestServeRefusesAnIncompleteCADir(t *testing.T) {
	dir, caDir := t.TempDir(), t.TempDir()
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	writeServeTestFile(t, filepath.Join(caDir, "ca-key.pem"), "not a key")
	if err := os.Chmod(filepath.Join(caDir, "ca-key.pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0",
		debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond, caDir: caDir}
	err := serve(context.Background(), opts, slog.New(slog.DiscardHandler), nil)
	if err == nil || !strings.Contains(err.Error(), "--ca-dir") || !strings.Contains(err.Error(), "ca-cert.pem") {
		t.Fatalf("serve = %v, want an error naming --ca-dir and ca-cert.pem", err)
	}
	if b, _ := os.ReadFile(filepath.Join(caDir, "ca-key.pem")); string(b) != "not a key" {
		t.Errorf("ca-key.pem was overwritten: %q", b)
	}
}

// With --ca-dir on an empty directory, serve creates the mesh root there
// and a second start uses the same root.
func TestServeCreatesAndKeepsTheCA(t *testing.T) {
	caDir := t.TempDir()
	opts := serveOptions{caDir: caDir, trustDomain: "example.org"}
	first, err := openCA(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca-cert.pem", "ca-key.pem", "root-cert.pem"} {
		if _, err := os.Stat(filepath.Join(caDir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	second, err := openCA(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if string(first.RootsPEM()) != string(second.RootsPEM()) || second.TrustDomain() != "example.org" {
		t.Errorf("restart changed the root or trust domain (%s)", second.TrustDomain())
	}
}

// A --kubeconfig that does not parse leaves its cluster out, with an error
// naming it; the files are served as usual.
func TestServeLeavesOutAClusterWithABadKubeconfig(t *testing.T) {
	dir := t.TempDir()
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	bad := filepath.Join(t.TempDir(), "gcp.kubeconfig")
	writeServeTestFile(t, bad, "clusters: [this is not a kubeconfig\n")
	var kubeconfigs kubeconfigFlag
	if err := kubeconfigs.Set("gcp=" + bad); err != nil {
		t.Fatal(err)
	}
	var logs serveLogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 2)
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0", ephemeralCA: true,
		debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond, kubeconfigs: kubeconfigs}
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, opts, slog.New(slog.NewTextHandler(&logs, nil)), func(xds, monitoring net.Addr) { addrs <- xds; addrs <- monitoring })
	}()
	var monitoring net.Addr
	select {
	case <-addrs:
		monitoring = <-addrs
	case err := <-done:
		t.Fatalf("serve stopped: %v\n%s", err, logs.String())
	}
	waitForServeTest(t, "a snapshot of the files", func() bool {
		_, metrics := getServeTestURL(t, "http://"+monitoring.String()+"/metrics")
		return strings.Contains(metrics, "isthmus_snapshot_version 1")
	})
	if l := logs.String(); !strings.Contains(l, "cluster left out") || !strings.Contains(l, "cluster=gcp") || !strings.Contains(l, bad) {
		t.Errorf("no error naming cluster gcp and its kubeconfig in:\n%s", l)
	}
}
