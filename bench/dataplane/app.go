package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// app is the application behind the server sidecar: an HTTP server on
// 127.0.0.1 that reads the request body and answers 200 with a body of
// the configured size, counting the requests it answered.
type app struct {
	addr     string // "127.0.0.1:PORT"
	body     []byte
	answered atomic.Int64
	server   *http.Server
}

// startApp serves on a free port of 127.0.0.1.
func startApp(bodyBytes int) (*app, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("application server: listen: %w", err)
	}
	a := &app{addr: ln.Addr().String(), body: bytes.Repeat([]byte("i"), bodyBytes)}
	a.server = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("application server stopped", "err", err)
		}
	}()
	return a, nil
}

// ServeHTTP drains the request body and answers with the fixed body.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.body)
	a.answered.Add(1)
}

// port is the TCP port the application listens on.
func (a *app) port() int {
	_, p, _ := net.SplitHostPort(a.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// close stops the server.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.server.Shutdown(ctx); err != nil {
		_ = a.server.Close()
	}
}
