package localmesh

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Client sends HTTP requests to one Envoy listener, naming the destination
// service in the Host header as an application behind a sidecar would.
type Client struct {
	Addr string // the Envoy listener, "127.x.y.z:PORT"
	http *http.Client
}

// Reply is what came back for one request.
type Reply struct {
	Status   int
	Upstream string // the X-Upstream header: which upstream answered ("" when Envoy answered itself)
	Header   http.Header
	Body     string
	Latency  time.Duration
}

// NewClient returns a client for the listener at addr (loopback only).
func NewClient(addr string) (*Client, error) {
	if err := requireLoopback(addr); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &Client{Addr: addr, http: &http.Client{Transport: transport, Timeout: 30 * time.Second}}, nil
}

// Get sends GET path with Host: host and the extra headers hdr.
func (c *Client) Get(ctx context.Context, host, path string, hdr http.Header) (Reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+path, nil)
	if err != nil {
		return Reply{}, fmt.Errorf("request %s%s: %w", host, path, err)
	}
	req.Host = host
	for k, vs := range hdr {
		req.Header[k] = append([]string(nil), vs...)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return Reply{}, fmt.Errorf("GET %s%s via %s: %w", host, path, c.Addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, fmt.Errorf("GET %s%s via %s: read body: %w", host, path, c.Addr, err)
	}
	return Reply{
		Status:   resp.StatusCode,
		Upstream: resp.Header.Get(UpstreamHeader),
		Header:   resp.Header,
		Body:     string(body),
		Latency:  time.Since(start),
	}, nil
}

// Tally counts which upstream answered n sequential requests; replies that
// no upstream answered are counted under "status NNN".
func (c *Client) Tally(ctx context.Context, n int, host, path string, hdr http.Header) (map[string]int, error) {
	counts := map[string]int{}
	for range n {
		r, err := c.Get(ctx, host, path, hdr)
		if err != nil {
			return counts, err
		}
		counts[r.tallyKey()]++
	}
	return counts, nil
}

func (r Reply) tallyKey() string {
	if r.Upstream != "" && r.Status == http.StatusOK {
		return r.Upstream
	}
	return fmt.Sprintf("status %d", r.Status)
}

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
