package server

import (
	"net/http"
	"sort"
	"time"
)

// Sync states of one xDS type of one proxy, as /debug/proxies, the
// istio.io/debug/syncz debug type and `isthmus proxy-status` report them.
const (
	// StateSynced: the proxy acknowledged the version it is served.
	StateSynced = "SYNCED"
	// StateNotSent: no response of the type was sent to the proxy.
	StateNotSent = "NOT SENT"
	// StateStale: the version served is not acknowledged (yet).
	StateStale = "STALE"
	// StateNacked: the proxy rejected the latest response of the type.
	StateNacked = "NACKED"
)

// ProxyStatus is one entry of /debug/proxies.
type ProxyStatus struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Pod          string    `json:"pod,omitempty"`
	Namespace    string    `json:"namespace"`
	ClusterID    string    `json:"clusterID,omitempty"`
	IstioVersion string    `json:"istioVersion,omitempty"`
	IPs          []string  `json:"ips,omitempty"`
	Streams      int       `json:"streams"`
	ConnectedAt  time.Time `json:"connectedAt"`
	// Replica names the Isthmus replica the proxy is connected to
	// (Options.Name).
	Replica string                `json:"replica"`
	Types   map[string]TypeStatus `json:"types"`
}

// TypeStatus is what one proxy is served, and has acknowledged, of one type.
type TypeStatus struct {
	// State is StateSynced, StateNotSent, StateStale or StateNacked.
	State string `json:"state"`
	// Served is the version the server serves the proxy now.
	Served string `json:"served,omitempty"`
	// Sent is the last version sent to the proxy.
	Sent string `json:"sent,omitempty"`
	// Acked is the last version the proxy acknowledged.
	Acked string `json:"acked,omitempty"`
	// Rejected is the proxy's message if it rejected the latest response.
	Rejected string `json:"rejected,omitempty"`
}

// syncState is the state of a type from its versions: a rejection stands
// until the proxy acknowledges a version again.
func syncState(ts TypeStatus) string {
	switch {
	case ts.Rejected != "":
		return StateNacked
	case ts.Sent == "" && ts.Acked == "":
		return StateNotSent
	case ts.Served != "" && ts.Acked == ts.Served:
		return StateSynced
	}
	return StateStale
}

// proxyStatuses is the status of every connected proxy, by node id.
func (s *Server) proxyStatuses() []ProxyStatus {
	proxies := s.connectedProxies()
	out := make([]ProxyStatus, 0, len(proxies))
	for _, ps := range proxies {
		out = append(out, s.proxyStatus(ps))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) proxyStatus(ps *proxyState) ProxyStatus {
	s.mu.Lock()
	streams := ps.streams
	s.mu.Unlock()
	p := ps.proxy
	st := ProxyStatus{
		ID: p.ID, Type: string(p.Type), Pod: p.PodName, Namespace: p.Namespace, ClusterID: p.ClusterID, IstioVersion: p.IstioVersion,
		IPs: p.IPAddresses, Streams: streams, ConnectedAt: ps.connectedAt, Replica: s.opts.Name,
		Types: map[string]TypeStatus{},
	}
	served := ps.servedResources()
	ps.statusMu.Lock()
	defer ps.statusMu.Unlock()
	for _, t := range servedTypes {
		ts := TypeStatus{Sent: ps.sent[t], Acked: ps.acked[t], Rejected: ps.nacked[t]}
		if served != nil {
			ts.Served = served.versions[t]
		}
		ts.State = syncState(ts)
		st.Types[typeLabel(t)] = ts
	}
	return st
}

func (s *Server) serveProxies(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.proxyStatuses())
}
