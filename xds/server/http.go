package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Handler serves the monitoring endpoints:
//
//	/metrics                     Prometheus metrics
//	/healthz                     200 while the process runs
//	/readyz                      200 once a snapshot is pushed and gRPC serves, until Drain; else 503
//	/debug/proxies                     connected proxies and their sync state per type (JSON, []ProxyStatus)
//	/debug/config_dump?proxy=ID        the resources served to one proxy (JSON)
//	/debug/envoy_config_dump?proxy=ID  the same in the shape of Envoy's /config_dump (admin.v3.ConfigDump)
//	/debug/explain?proxy=ID            where each of them comes from, and with
//	    &host=H&port=N&path=P          where such a request would go (JSON)
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("GET /debug/proxies", s.serveProxies)
	mux.HandleFunc("GET /debug/config_dump", s.serveConfigDump)
	mux.HandleFunc("GET /debug/explain", s.serveExplain)
	mux.HandleFunc("GET /debug/envoy_config_dump", s.serveEnvoyConfigDump)
	registerProfiling(mux)
	return mux
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.draining.Load():
		writeText(w, http.StatusServiceUnavailable, "draining\n")
	case !s.pushed.Load():
		writeText(w, http.StatusServiceUnavailable, "no configuration pushed yet\n")
	case !s.serving.Load():
		writeText(w, http.StatusServiceUnavailable, "xDS server not serving\n")
	default:
		writeText(w, http.StatusOK, "ready\n")
	}
}

// configDump is the body of /debug/config_dump. Secrets are listed by name
// only: their keys never leave the server this way.
type configDump struct {
	Proxy     string            `json:"proxy"`
	Versions  map[string]string `json:"versions"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Secrets   []string          `json:"secrets"`
}

func (s *Server) serveConfigDump(w http.ResponseWriter, r *http.Request) {
	if served, ok := s.servedFor(w, r); ok {
		writeJSON(w, http.StatusOK, newConfigDump(r.URL.Query().Get("proxy"), served))
	}
}

// servedFor returns what the proxy of the request's ?proxy= is served, or
// answers why there is nothing to show.
func (s *Server) servedFor(w http.ResponseWriter, r *http.Request) (*proxyResources, bool) {
	id := r.URL.Query().Get("proxy")
	if id == "" {
		writeText(w, http.StatusBadRequest, "missing ?proxy=NODE_ID\n")
		return nil, false
	}
	ps := s.proxyByID(id)
	if ps == nil {
		writeText(w, http.StatusNotFound, "proxy "+id+" is not connected\n")
		return nil, false
	}
	served := ps.servedResources()
	if served == nil {
		writeText(w, http.StatusNotFound, "proxy "+id+" has no resources yet\n")
		return nil, false
	}
	return served, true
}

func newConfigDump(id string, served *proxyResources) configDump {
	res := served.resources
	d := configDump{
		Proxy:     id,
		Versions:  map[string]string{},
		Listeners: marshalAll(res.Listeners),
		Routes:    marshalAll(res.Routes),
		Clusters:  marshalAll(res.Clusters),
		Endpoints: marshalAll(res.Endpoints),
		Secrets:   []string{},
	}
	for t, v := range served.versions {
		d.Versions[typeLabel(t)] = v
	}
	for _, sec := range res.Secrets {
		d.Secrets = append(d.Secrets, sec.GetName())
	}
	return d
}

// marshalAll renders each message as JSON; a message that cannot be
// rendered becomes an object naming the error.
func marshalAll[T proto.Message](list []T) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(list))
	for _, m := range list {
		b, err := protojson.Marshal(m)
		if err != nil {
			b, _ = json.Marshal(map[string]string{
				"error": err.Error(), "type": string(m.ProtoReflect().Descriptor().FullName()),
			})
		}
		out = append(out, b)
	}
	return out
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error()+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// registerProfiling serves Go's runtime profiles under /debug/pprof/, so
// load tests can capture Isthmus's CPU and heap profiles while they run.
func registerProfiling(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
