// Command demoapp is the HTTP workload of Isthmus's Kubernetes demo. Every
// answer says who answered, so a caller sees where a request landed and
// which identity the server saw:
//
//	GET /            → JSON: app, pod, namespace, cloud, version, the
//	                   request's host and path, and the caller's
//	                   X-Forwarded-Client-Cert header (the SPIFFE identity
//	                   an Envoy sidecar proved), if any
//	GET /call?url=U  → fetches U from this pod and returns, as JSON, the
//	                   status and body it got, or the error: the demo's
//	                   "client pod" is any demoapp pod
//	GET /healthz     → 200 "ok"
//
// Its identity comes from the environment (APP, POD_NAME, POD_NAMESPACE,
// CLOUD, VERSION, as a Deployment sets them through the downward API) and
// it listens on $PORT (default 8080).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Identity is who a demoapp process is.
type Identity struct {
	App       string `json:"app"`
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	Cloud     string `json:"cloud"`
	Version   string `json:"version"`
}

// Answer is the body of GET /.
type Answer struct {
	Identity
	Host string `json:"host"`
	Path string `json:"path"`
	// ClientCert is the X-Forwarded-Client-Cert header the request came
	// with (set by an Envoy sidecar that terminated mutual TLS).
	ClientCert string `json:"clientCert,omitempty"`
}

// CallResult is the body of GET /call.
type CallResult struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// callTimeout bounds one /call.
const callTimeout = 3 * time.Second

// callClient opens a new connection for every call, so that calls to a
// Service's ClusterIP are balanced across its endpoints as kube-proxy
// spreads connections.
var callClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// maxCallBody is the most of a called URL's body /call returns.
const maxCallBody = 64 << 10

func main() {
	id := Identity{
		App: os.Getenv("APP"), Pod: os.Getenv("POD_NAME"), Namespace: os.Getenv("POD_NAMESPACE"),
		Cloud: os.Getenv("CLOUD"), Version: os.Getenv("VERSION"),
	}
	addr := ":" + cmp.Or(os.Getenv("PORT"), "8080")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, addr, id); err != nil {
		slog.Error("demoapp", "err", err)
		os.Exit(1)
	}
}

// serve answers on addr until ctx ends.
func serve(ctx context.Context, addr string, id Identity) error {
	srv := &http.Server{Addr: addr, Handler: newHandler(id), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("demoapp listening", "addr", addr, "app", id.App, "pod", id.Pod, "cloud", id.Cloud)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newHandler(id Identity) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /call", handleCall)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Answer{Identity: id, Host: r.Host, Path: r.URL.Path, ClientCert: r.Header.Get("X-Forwarded-Client-Cert")})
	})
	return mux
}

// handleCall fetches the url query parameter and reports what came back.
func handleCall(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	if target == "" {
		writeJSON(w, http.StatusBadRequest, CallResult{Error: "missing url parameter"})
		return
	}
	writeJSON(w, http.StatusOK, call(r.Context(), target))
}

func call(ctx context.Context, target string) CallResult {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	result := CallResult{URL: target}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		result.Error = err.Error()
		return result
	}
	resp, err := callClient.Do(req)
	if err != nil {
		result.Error = err.Error()
		return result
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody))
	result.Status, result.Body = resp.StatusCode, string(body)
	if err != nil {
		result.Error = "reading body: " + err.Error()
	}
	return result
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
