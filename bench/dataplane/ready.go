package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// waitServed sends single requests to t until one is answered 200 with the
// application's body: the configuration has reached every Envoy on the
// path.
func waitServed(ctx context.Context, t target, bodyBytes int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	var last string
	for {
		status, n, err := post(ctx, client, t, bodyBytes)
		if err == nil && status == http.StatusOK && n == bodyBytes {
			return nil
		}
		last = fmt.Sprintf("status %d, %d body bytes, error %v", status, n, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (Host %q) never answered with the application's body: last %s", t.URL, t.Host, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// post sends one request shaped like the load and returns the status and
// the body length.
func post(ctx context.Context, client *http.Client, t target, bodyBytes int) (int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(make([]byte, bodyBytes)))
	if err != nil {
		return 0, 0, err
	}
	if t.Host != "" {
		req.Host = t.Host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, int(n), err
}
