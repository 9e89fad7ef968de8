package xdsload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// profiler fetches pprof profiles from a control plane that serves
// /debug/pprof (Isthmus on its monitoring port).
type profiler struct {
	base   string // e.g. http://127.0.0.1:15014
	dir    string
	client *http.Client
}

func newProfiler(base, dir string) (*profiler, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("pprof address %q: want http://HOST:PORT", base)
	}
	if err := checkLoopback(u.Host); err != nil {
		return nil, fmt.Errorf("pprof address: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("profile directory: %w", err)
	}
	return &profiler{base: u.Scheme + "://" + u.Host, dir: dir, client: &http.Client{}}, nil
}

// cpu records a CPU profile of the next d into file name, returning its path.
func (pr *profiler) cpu(ctx context.Context, d time.Duration, name string) (string, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	return pr.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), name)
}

// heap records a heap profile into file name, returning its path.
func (pr *profiler) heap(ctx context.Context, name string) (string, error) {
	return pr.fetch(ctx, "/debug/pprof/heap", name)
}

func (pr *profiler) fetch(ctx context.Context, path, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pr.base+path, nil)
	if err != nil {
		return "", fmt.Errorf("profile %s: %w", name, err)
	}
	resp, err := pr.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("profile %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("profile %s: %s from %s", name, resp.Status, pr.base+path)
	}
	file := filepath.Join(pr.dir, name)
	f, err := os.Create(file)
	if err != nil {
		return "", fmt.Errorf("profile %s: %w", name, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", fmt.Errorf("profile %s: %w", name, err)
	}
	return file, f.Close()
}
