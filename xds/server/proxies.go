package server

import (
	"strings"
	"sync"
	"time"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// proxyState is the server's memory of one connected proxy.
type proxyState struct {
	proxy       *model.Proxy
	proven      *certs.Identity // the identity the proxy proved; nil for none
	connectedAt time.Time
	streams     int // open streams; guarded by Server.mu

	// mu serializes translation and cache updates for the proxy.
	mu     sync.Mutex
	closed bool            // the proxy's last stream ended
	gen    uint64          // generation of the last translation attempted
	served *proxyResources // what the cache serves; nil before the first success

	// statusMu guards what the proxy has acknowledged; it is separate from mu
	// so acknowledgements never wait for a translation.
	statusMu sync.Mutex
	sent     map[string]string     // type URL → last version sent on a stream
	acked    map[string]string     // type URL → last version acknowledged
	pending  map[string]pendingAck // type URL → version set and not yet acknowledged
	nacked   map[string]string     // type URL → last rejection message
}

// pendingAck is a version set for a proxy, waiting for its acknowledgement.
type pendingAck struct {
	version string
	setAt   time.Time
	trace   *pushTrace // of the push that set it; nil outside a traced push
}

func newProxyState(p *model.Proxy) *proxyState {
	return &proxyState{
		proxy:       p,
		connectedAt: time.Now(),
		sent:        map[string]string{},
		acked:       map[string]string{},
		pending:     map[string]pendingAck{},
		nacked:      map[string]string{},
	}
}

// attach counts a new stream of proxy p. The first stream of a node creates
// its state and translates it at once from the last pushed snapshot, so a
// new proxy does not wait for the next push.
func (s *Server) attach(p *model.Proxy, proven *certs.Identity) *proxyState {
	s.mu.Lock()
	ps, ok := s.proxies[p.ID]
	if ok {
		ps.streams++
		s.mu.Unlock()
		return ps
	}
	ps = newProxyState(p)
	ps.proven = proven
	ps.streams = 1
	s.proxies[p.ID] = ps
	s.metrics.connected.Set(float64(len(s.proxies)))
	tr, gen := s.translator, s.gen
	s.mu.Unlock()
	s.log.Info("proxy connected", "proxy", clipID(p.ID), "namespace", clip(p.Namespace, maxLoggedID))
	if tr != nil {
		s.onWorker(func() { s.refresh(ps, tr, gen, nil) })
	}
	return ps
}

// detach counts the end of a stream of ps. When the last stream ends the
// proxy is forgotten and its cache entry cleared; holding s.mu until then
// keeps a reconnecting proxy from seeing its entry cleared after it is set.
func (s *Server) detach(ps *proxyState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps.streams--
	if ps.streams > 0 {
		return
	}
	delete(s.proxies, ps.proxy.ID)
	s.metrics.connected.Set(float64(len(s.proxies)))
	ps.settlePending()
	ps.mu.Lock()
	ps.closed = true
	s.cache.clear(ps.proxy.ID)
	ps.mu.Unlock()
	s.log.Info("proxy disconnected", "proxy", clipID(ps.proxy.ID))
}

// connectedProxies lists the proxies connected now.
func (s *Server) connectedProxies() []*proxyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*proxyState, 0, len(s.proxies))
	for _, ps := range s.proxies {
		out = append(out, ps)
	}
	return out
}

// proxyByID returns the connected proxy with node id id, or nil.
func (s *Server) proxyByID(id string) *proxyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxies[id]
}

// servedResources returns what ps is served now, or nil.
func (ps *proxyState) servedResources() *proxyResources {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.served
}

// markSet records that versions were set for the proxy, to time their
// acknowledgement.
func (ps *proxyState) markSet(types []string, r *proxyResources, at time.Time, pt *pushTrace) {
	ps.statusMu.Lock()
	defer ps.statusMu.Unlock()
	for _, t := range types {
		ps.pending[t].trace.superseded()
		ps.pending[t] = pendingAck{version: r.versions[t], setAt: at, trace: pt}
		pt.expectAck()
	}
}

// markAcked records an acknowledgement of version for typeURL and returns
// how long ago that version was set, if it was the one waiting.
func (ps *proxyState) markAcked(typeURL, version string) (time.Duration, bool) {
	ps.statusMu.Lock()
	defer ps.statusMu.Unlock()
	ps.acked[typeURL] = version
	delete(ps.nacked, typeURL)
	p, ok := ps.pending[typeURL]
	if !ok || p.version != version {
		return 0, false
	}
	delete(ps.pending, typeURL)
	now := time.Now()
	p.trace.acked(now, p.setAt)
	return now.Sub(p.setAt), true
}

// markNacked records the proxy's rejection of a typeURL response.
func (ps *proxyState) markNacked(typeURL, message string) {
	ps.statusMu.Lock()
	defer ps.statusMu.Unlock()
	ps.nacked[typeURL] = message
}

// markSent records that version of typeURL was sent to the proxy.
// A version a traced push set counts in the push's send span.
func (ps *proxyState) markSent(typeURL, version string) {
	ps.statusMu.Lock()
	defer ps.statusMu.Unlock()
	ps.sent[typeURL] = version
	if p, ok := ps.pending[typeURL]; ok && p.version == version {
		p.trace.record(spanSend+strings.ToUpper(typeLabel(typeURL)), p.setAt, time.Now())
	}
}

// settlePending gives up the acknowledgements a proxy that left owes: its
// pushes' traces do not wait for them.
func (ps *proxyState) settlePending() {
	ps.statusMu.Lock()
	defer ps.statusMu.Unlock()
	for t, p := range ps.pending {
		p.trace.superseded()
		delete(ps.pending, t)
	}
}
