package localmesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UpstreamHeader is the response header in which an upstream names itself.
const UpstreamHeader = "X-Upstream"

// Behavior is how an upstream answers requests for one path.
type Behavior struct {
	Status int           // response status; 0 means 200
	Delay  time.Duration // wait before answering
}

// Request is what an upstream recorded about one request it received.
type Request struct {
	Method string
	Host   string
	Path   string
	Header http.Header
	At     time.Time
}

// Upstream is an HTTP server on 127.0.0.1 that answers every request with its
// name (in the X-Upstream header and the body) and records what it received.
//
// Besides behaviours set with Handle, two path conventions let a client ask
// for a behaviour: "/status/NNN" answers status NNN, and "/delay?ms=N" waits
// N milliseconds before answering 200.
type Upstream struct {
	Name string // as reported in X-Upstream, e.g. "reviews-v1"
	Addr string // "127.0.0.1:PORT"

	server *http.Server

	mu        sync.Mutex
	requests  []Request
	behaviors map[string]Behavior
}

// StartUpstream serves on addr, which must be a loopback "IP:PORT" (port 0
// picks a free one).
func StartUpstream(name, addr string) (*Upstream, error) {
	if err := requireLoopback(addr); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: listen on %s: %w", name, addr, err)
	}
	u := &Upstream{Name: name, Addr: ln.Addr().String(), behaviors: map[string]Behavior{}}
	u.server = &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := u.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("upstream stopped serving", "upstream", name, "err", err)
		}
	}()
	return u, nil
}

// IP is the address the upstream listens on.
func (u *Upstream) IP() string {
	host, _, _ := net.SplitHostPort(u.Addr)
	return host
}

// Port is the TCP port the upstream listens on.
func (u *Upstream) Port() int {
	_, port, _ := net.SplitHostPort(u.Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// Handle makes requests for exactly path answer with b.
func (u *Upstream) Handle(path string, b Behavior) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.behaviors[path] = b
}

// Requests returns a copy of every request received so far.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.requests...)
}

// Count is the number of requests received so far.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

// Reset forgets the recorded requests (behaviours stay).
func (u *Upstream) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests = nil
}

// Close stops the server, interrupting requests still waiting on a delay.
func (u *Upstream) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := u.server.Shutdown(ctx); err != nil {
		return u.server.Close()
	}
	return nil
}

// ServeHTTP records r and answers with the behaviour chosen for its path.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := u.record(r)
	if b.Delay > 0 {
		select {
		case <-time.After(b.Delay):
		case <-r.Context().Done():
			return
		}
	}
	status := b.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set(UpstreamHeader, u.Name)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s\n", u.Name)
}

func (u *Upstream) record(r *http.Request) Behavior {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests = append(u.requests, Request{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone(), At: time.Now(),
	})
	if b, ok := u.behaviors[r.URL.Path]; ok {
		return b
	}
	return behaviorFromURL(r)
}

// behaviorFromURL reads the "/status/NNN" and "/delay?ms=N" conventions.
func behaviorFromURL(r *http.Request) Behavior {
	var b Behavior
	if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		if n, err := strconv.Atoi(code); err == nil && n >= 200 && n <= 599 {
			b.Status = n
		}
	}
	if r.URL.Path == "/delay" {
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil && ms > 0 {
			b.Delay = time.Duration(ms) * time.Millisecond
		}
	}
	return b
}
