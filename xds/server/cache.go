package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// resourceCache holds what each proxy is served and answers the xDS streams
// from it. Implementations must be safe for concurrent use.
type resourceCache interface {
	// Cache is what the go-control-plane server reads.
	cache.Cache
	// set replaces the resources served to the proxy with node id nodeID and
	// answers its open watches whose version is now out of date.
	set(ctx context.Context, nodeID string, r *proxyResources) error
	// clear forgets a proxy that has no stream left.
	clear(nodeID string)
	// end ends the streams of the proxy with node id nodeID, with
	// Unavailable, as soon as each has a watch open.
	end(nodeID string)
	// watchDelta has wake signalled whenever the resources of nodeID are
	// set or its streams are to end, and returns the proxy's state.
	watchDelta(nodeID string, wake chan struct{}) *nodeState
}

// preparedCache is the resourceCache of the server: it answers watches with
// responses built from prepared resources (see preparer), so a resource is
// marshalled once however many proxies and streams it is sent to.
//
// The semantics follow the xDS protocol as go-control-plane's snapshot cache
// implements it: state-of-the-world watches are answered when the type's
// version differs from the one the request carries, or when a subscribed
// resource has not been sent on the stream yet; a rejected version (a
// request with error_detail) is not sent again until the version changes.
// Open watches are answered in ADS order (CDS, EDS, LDS, RDS, SDS) when a
// proxy's resources are set; a proxy's watches wait until its first
// resources are set. Delta streams (deltaStream) keep their own state and
// read the proxy's resources when set wakes them.
type preparedCache struct {
	log *slog.Logger

	mu    sync.Mutex
	nodes map[string]*nodeState
}

var _ resourceCache = (*preparedCache)(nil)

// nodeState is one proxy's resources and open watches.
type nodeState struct {
	mu     sync.Mutex
	served *proxyResources // nil until set
	sotw   map[*sotwWatch]struct{}
	delta  map[chan struct{}]struct{} // wakes the proxy's delta streams
	ending bool                       // its streams are to end (see end)
}

// sotwWatch is an open state-of-the-world watch of one stream and type.
type sotwWatch struct {
	req *cache.Request
	sub cache.Subscription
	out chan cache.Response
}

func newPreparedCache(logger *slog.Logger) *preparedCache {
	return &preparedCache{log: logger, nodes: map[string]*nodeState{}}
}

// node returns the state of nodeID, creating it when new.
func (c *preparedCache) node(nodeID string) *nodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[nodeID]
	if n == nil {
		n = &nodeState{sotw: map[*sotwWatch]struct{}{}, delta: map[chan struct{}]struct{}{}}
		c.nodes[nodeID] = n
	}
	return n
}

func (c *preparedCache) set(_ context.Context, nodeID string, r *proxyResources) error {
	n := c.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	prev := n.served
	n.served = r
	for _, w := range sortedByType(n.sotw, func(w *sotwWatch) string { return w.req.GetTypeUrl() }) {
		if typeChanged(prev, r, w.req.GetTypeUrl()) && c.answerSotw(r, w) {
			delete(n.sotw, w)
		}
	}
	n.wakeDelta()
	return nil
}

// answerSotw sends w what r owes it, if anything; true when the watch is
// answered.
func (c *preparedCache) answerSotw(r *proxyResources, w *sotwWatch) bool {
	resp := sotwResponse(r, w.req, w.sub)
	return resp != nil && c.sent(trySend(w.out, resp), w.req.GetTypeUrl())
}

// typeChanged reports whether r serves typeURL otherwise than prev did. An
// open watch was owed nothing by prev: only a changed type can owe it
// something now.
func typeChanged(prev, r *proxyResources, typeURL string) bool {
	return prev == nil || prev.types[typeURL] != r.types[typeURL]
}

// end answers every open watch of nodeID, and every watch its streams
// open from now on, with a response that ends the stream (endingResponse).
func (c *preparedCache) end(nodeID string) {
	n := c.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ending = true
	for w := range n.sotw {
		if c.sent(trySend(w.out, endingSotw(w.req)), w.req.GetTypeUrl()) {
			delete(n.sotw, w)
		}
	}
	n.wakeDelta()
}

func (c *preparedCache) watchDelta(nodeID string, wake chan struct{}) *nodeState {
	n := c.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delta[wake] = struct{}{}
	return n
}

// unwatchDelta stops waking wake (see watchDelta).
func (n *nodeState) unwatchDelta(wake chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.delta, wake)
}

// wakeDelta wakes every delta stream of the proxy; n.mu must be held.
func (n *nodeState) wakeDelta() {
	for wake := range n.delta {
		debounce.Signal(wake)
	}
}

// current is what the proxy is served (nil before its first resources)
// and whether its streams are to end.
func (n *nodeState) current() (*proxyResources, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.served, n.ending
}

func (c *preparedCache) clear(nodeID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, nodeID)
}

// sortedByType lists watches in ADS order of their types.
func sortedByType[W comparable](watches map[W]struct{}, typeURL func(W) string) []W {
	out := make([]W, 0, len(watches))
	for w := range watches {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b W) int { return typeOrder(typeURL(a)) - typeOrder(typeURL(b)) })
	return out
}

// trySend hands a response to a stream without blocking: go-control-plane
// gives each stream a channel with room for a response per type, and a
// watch answers once.
func trySend[R any](ch chan R, resp R) bool {
	select {
	case ch <- resp:
		return true
	default:
		return false
	}
}

// sent logs a response that could not be handed over; its watch stays open.
func (c *preparedCache) sent(ok bool, typeURL string) bool {
	if !ok {
		c.log.Error("xDS stream cannot take a response; the watch stays open", "type", clip(typeURL, maxLoggedID))
	}
	return ok
}

// CreateWatch answers a state-of-the-world request at once when the proxy
// is behind, otherwise opens a watch answered by a later set.
func (c *preparedCache) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	n := c.node(req.GetNode().GetId())
	n.mu.Lock()
	defer n.mu.Unlock()
	w := &sotwWatch{req: req, sub: sub, out: out}
	if n.ending && c.sent(trySend(out, endingSotw(req)), req.GetTypeUrl()) {
		return func() {}, nil
	}
	if n.served != nil && c.answerSotw(n.served, w) {
		return func() {}, nil
	}
	n.sotw[w] = struct{}{}
	return func() {
		n.mu.Lock()
		delete(n.sotw, w)
		n.mu.Unlock()
	}, nil
}

// CreateDeltaWatch is not used: delta streams are served by deltaStream.
func (c *preparedCache) CreateDeltaWatch(*cache.DeltaRequest, cache.Subscription, chan cache.DeltaResponse) (func(), error) {
	return nil, errors.New("isthmus serves delta xDS from its own streams")
}

// Fetch is not supported: Isthmus serves xDS over gRPC streams only.
func (c *preparedCache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("isthmus serves xDS over gRPC streams only")
}

// libraryLogger sends go-control-plane's logs to slog at debug level; its
// errors become warnings.
func libraryLogger(logger *slog.Logger) log.Logger {
	logger = logger.With("component", "go-control-plane")
	debug := func(format string, args ...any) {
		if logger.Enabled(context.Background(), slog.LevelDebug) {
			logger.Debug(clip(fmt.Sprintf(format, args...), maxLoggedMessage))
		}
	}
	return log.LoggerFuncs{
		DebugFunc: debug,
		InfoFunc:  debug,
		WarnFunc:  debug,
		ErrorFunc: func(format string, args ...any) { logger.Warn(clip(fmt.Sprintf(format, args...), maxLoggedMessage)) },
	}
}
