package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/isthmus-mesh/isthmus/xds/simulate"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// Explained is the answer of /debug/explain: where each resource a proxy
// is served comes from and, when a request was given, where it would go.
type Explained struct {
	*translate.Explanation
	Request    *simulate.Request `json:"request,omitempty"`
	Simulation *simulate.Result  `json:"simulation,omitempty"`
	// SimulationError says why the request matches no route, as Envoy
	// would answer 404.
	SimulationError string `json:"simulationError,omitempty"`
}

// serveExplain answers /debug/explain?proxy=ID[&host=H&port=N&path=P&method=M]:
// the proxy is translated again from the snapshot last pushed, with the
// origin of each resource (translate.Explain); with host, the request is
// followed through what the proxy is served (simulate.Route).
func (s *Server) serveExplain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ps := s.proxyByID(q.Get("proxy"))
	if ps == nil {
		writeText(w, http.StatusNotFound, fmt.Sprintf("proxy %q is not connected\n", q.Get("proxy")))
		return
	}
	s.mu.Lock()
	tr := s.translator
	s.mu.Unlock()
	if tr == nil {
		writeText(w, http.StatusServiceUnavailable, "no configuration pushed yet\n")
		return
	}
	e, err := translate.Explain(tr.idx, ps.proxy)
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error()+"\n")
		return
	}
	out := Explained{Explanation: e}
	if q.Get("host") != "" {
		if err := s.simulate(&out, ps, q.Get("host"), q.Get("port"), q.Get("path"), q.Get("method")); err != nil {
			writeText(w, http.StatusBadRequest, err.Error()+"\n")
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// simulate follows the request through what ps is served now.
func (s *Server) simulate(out *Explained, ps *proxyState, host, port, path, method string) error {
	n, err := strconv.ParseUint(port, 10, 32)
	if err != nil || n == 0 {
		return fmt.Errorf("port %q: want the port the request is sent to", port)
	}
	if path == "" {
		path = "/"
	}
	served := ps.servedResources()
	if served == nil {
		return fmt.Errorf("proxy %q has no resources yet", ps.proxy.ID)
	}
	out.Request = &simulate.Request{Host: host, Port: uint32(n), Path: path, Method: method}
	res, err := simulate.Route(served.resources, *out.Request)
	if err != nil {
		out.SimulationError = err.Error()
		return nil
	}
	out.Simulation = res
	return nil
}
