package xdsload

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
)

// Proxy is one simulated sidecar: one gRPC connection, one ADS stream.
type Proxy struct {
	ID   *Identity
	node *corev3.Node
	conn *grpc.ClientConn
	sink *nackSink
	// cache is shared by all proxies of a run.
	cache *decodeCache

	bytes       atomic.Int64
	responses   atomic.Int64
	nacks       atomic.Int64
	disconnects atomic.Int64

	mu           sync.Mutex
	state        configState
	watchers     []*watcher
	connectedAt  time.Time
	configuredAt time.Time // zero until the first full configuration
	lastErr      error
}

func newProxy(id *Identity, conn *grpc.ClientConn, cache *decodeCache, sink *nackSink) (*Proxy, error) {
	node, err := id.Node()
	if err != nil {
		return nil, err
	}
	return &Proxy{ID: id, node: node, conn: conn, cache: cache, sink: sink, state: newConfigState()}, nil
}

// run keeps an ADS stream open until ctx ends, reconnecting after a pause
// when the stream fails, with a fresh configuration.
func (p *Proxy) run(ctx context.Context, delta bool) {
	for ctx.Err() == nil {
		p.mu.Lock()
		if p.connectedAt.IsZero() {
			p.connectedAt = time.Now()
		}
		p.state = newConfigState()
		p.mu.Unlock()
		var err error
		if delta {
			err = runDelta(ctx, p)
		} else {
			err = runSotW(ctx, p)
		}
		if ctx.Err() != nil {
			return
		}
		p.disconnects.Add(1)
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// decodeAll decodes a response's resources; the first failure rejects it.
func (p *Proxy) decodeAll(typeURL string, items []resourceItem) ([]*decoded, error) {
	out := make([]*decoded, 0, len(items))
	for _, it := range items {
		d, err := p.cache.decode(typeURL, it.any)
		if err != nil {
			return nil, err
		}
		if len(it.name) > 0 && string(it.name) != d.name {
			return nil, fmt.Errorf("%s resource named %q carries %q", typeNames[typeURL], it.name, d.name)
		}
		out = append(out, d)
	}
	return out, nil
}

// apply changes the accepted resources of typeURL and forgets dependent
// resources nothing references any more.
func (p *Proxy) apply(typeURL string, change func(*configState)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change(&p.state)
	p.state.forgetUnwanted(typeURL)
}

// wantedList is the current list of dependent names to subscribe to,
// interned (shared: not to be changed).
func (p *Proxy) wantedList(dep string) *nameList {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.wantedList(dep)
}

// acked records that a response of typeURL was ACKed at ackAt: the
// configuration may now be complete and pending changes may be visible.
func (p *Proxy) acked(typeURL string, ackAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.configuredAt.IsZero() && p.state.complete() {
		p.configuredAt = ackAt
	}
	kept := p.watchers[:0]
	for _, w := range p.watchers {
		if w.detector.watches(typeURL) && w.visible(p.state) {
			w.change.observe(ackAt)
			continue
		}
		kept = append(kept, w)
	}
	clear(p.watchers[len(kept):])
	p.watchers = kept
}

// rejected records a NACK.
func (p *Proxy) rejected(typeURL string, err error) {
	p.nacks.Add(1)
	p.sink.add(NACK{Proxy: p.ID.NodeID(), Type: typeNames[typeURL], Error: err.Error()})
}

func (p *Proxy) received(size int) {
	p.bytes.Add(int64(size))
	p.responses.Add(1)
}

// watch registers change at this proxy if its detector says it applies.
func (p *Proxy) watch(c *Change, d *Detector) {
	p.mu.Lock()
	defer p.mu.Unlock()
	visible := d.Start(p.state)
	if visible == nil {
		return
	}
	c.addAffected()
	p.watchers = append(p.watchers, &watcher{change: c, detector: d, visible: visible})
}

// forget drops every pending watcher of scenario.
func (p *Proxy) forget(scenario string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.watchers[:0]
	for _, w := range p.watchers {
		if w.change.Scenario != scenario {
			kept = append(kept, w)
		}
	}
	clear(p.watchers[len(kept):])
	p.watchers = kept
}

// timeToConfig is how long the proxy took from connecting to its full
// configuration, and whether it got there.
func (p *Proxy) timeToConfig() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.configuredAt.IsZero() {
		return 0, false
	}
	return p.configuredAt.Sub(p.connectedAt), true
}

// pending counts the proxy's unobserved changes.
func (p *Proxy) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watchers)
}

// NACK is one rejected response.
type NACK struct {
	Proxy string `json:"proxy"`
	Type  string `json:"type"`
	Error string `json:"error"`
}

// nackSink keeps the first NACKs of a run, for the report.
type nackSink struct {
	mu    sync.Mutex
	first []NACK
}

const keptNACKs = 20

func (s *nackSink) add(n NACK) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.first) < keptNACKs {
		s.first = append(s.first, n)
	}
}

func (s *nackSink) list() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]NACK(nil), s.first...)
}
