package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstreamHeader is the response header in which an application names
// itself.
const upstreamHeader = "X-Upstream"

// seenRequest is what an application recorded about one request.
type seenRequest struct {
	Host       string
	Path       string
	RemoteAddr string // the peer of the connection the request came on
	Header     http.Header
}

// app is a plain HTTP application listening inside a namespace, unaware of
// any mesh: it answers with its name and records what it received.
type app struct {
	name   string
	server *http.Server

	mu   sync.Mutex
	seen []seenRequest
}

// startApp serves on addr inside ns.
func startApp(ns *netns, name, addr string) (*app, error) {
	ln, err := ns.listen(addr)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	a := &app{name: name}
	a.server = &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.server.Serve(ln) }()
	return a, nil
}

// serveAlso serves the same application on one more address.
func (a *app) serveAlso(ns *netns, addr string) error {
	ln, err := ns.listen(addr)
	if err != nil {
		return fmt.Errorf("app %s: %w", a.name, err)
	}
	go func() { _ = a.server.Serve(ln) }()
	return nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, seenRequest{Host: r.Host, Path: r.URL.Path, RemoteAddr: r.RemoteAddr, Header: r.Header.Clone()})
	a.mu.Unlock()
	w.Header().Set(upstreamHeader, a.name)
	fmt.Fprintln(w, a.name)
}

// lastRequest returns the latest request whose path is path.
func (a *app) lastRequest(path string) (seenRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.seen) - 1; i >= 0; i-- {
		if a.seen[i].Path == path {
			return a.seen[i], true
		}
	}
	return seenRequest{}, false
}

func (a *app) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.server.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return a.server.Close()
}

// clusterDNS stands in for the cluster's DNS: it resolves the service's
// names to its VIP, as kube-dns would. Anything else must be an IP.
var clusterDNS = map[string]string{
	reviewsShort: reviewsVIP,
	reviewsHost:  reviewsVIP,
}

// podClient is an application's HTTP client inside a pod: its connections
// are opened in the pod's namespace (and so pass its iptables rules), one
// connection per request.
func podClient(ns *netns) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip, ok := clusterDNS[host]; ok {
			addr = net.JoinHostPort(ip, port)
		}
		return ns.dial(ctx, network, addr)
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       dial,
			DisableKeepAlives: true,
		},
	}
}

// reply is what came back for one request.
type reply struct {
	Status   int
	Upstream string
	Header   http.Header
	Body     string
}

// get sends GET url with the extra headers hdr.
func get(ctx context.Context, c *http.Client, url string, hdr http.Header) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return reply{}, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	return reply{Status: resp.StatusCode, Upstream: resp.Header.Get(upstreamHeader), Header: resp.Header, Body: string(body)}, nil
}
