package server

import (
	"context"
	"sync"

	"github.com/isthmus-mesh/isthmus/debounce"
)

// resourceCache holds what each proxy is served, for the xDS streams
// (sotwStream, deltaStream) to read. Implementations must be safe for
// concurrent use.
type resourceCache interface {
	// set replaces the resources served to the proxy with node id nodeID and
	// wakes its streams.
	set(ctx context.Context, nodeID string, r *proxyResources) error
	// clear forgets a proxy that has no stream left.
	clear(nodeID string)
	// end ends the streams of the proxy with node id nodeID, with
	// Unavailable, as soon as each has a request waiting.
	end(nodeID string)
	// watch has wake signalled whenever the resources of nodeID are set or
	// its streams are to end, and returns the proxy's state.
	watch(nodeID string, wake chan struct{}) *nodeState
}

// preparedCache is the resourceCache of the server: what each proxy is
// served, as prepared resources (see preparer), so a resource is marshalled
// once however many proxies and streams it is sent to. The streams keep
// their own state and read the proxy's resources when set wakes them; a
// proxy's streams wait until its first resources are set.
type preparedCache struct {
	mu    sync.Mutex
	nodes map[string]*nodeState
}

var _ resourceCache = (*preparedCache)(nil)

// nodeState is one proxy's resources and the streams to wake.
type nodeState struct {
	mu      sync.Mutex
	served  *proxyResources // nil until set
	streams map[chan struct{}]struct{}
	ending  bool // its streams are to end (see end)
}

func newPreparedCache() *preparedCache {
	return &preparedCache{nodes: map[string]*nodeState{}}
}

// node returns the state of nodeID, creating it when new.
func (c *preparedCache) node(nodeID string) *nodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[nodeID]
	if n == nil {
		n = &nodeState{streams: map[chan struct{}]struct{}{}}
		c.nodes[nodeID] = n
	}
	return n
}

func (c *preparedCache) set(_ context.Context, nodeID string, r *proxyResources) error {
	n := c.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.served = r
	n.wake()
	return nil
}

// end has every stream of nodeID, open or opened from now on, ended with
// Unavailable as soon as it has a request waiting for a response.
func (c *preparedCache) end(nodeID string) {
	n := c.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ending = true
	n.wake()
}

func (c *preparedCache) watch(nodeID string, wake chan struct{}) *nodeState {
	n := c.node(nodeID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.streams[wake] = struct{}{}
	return n
}

// unwatch stops waking wake (see watch).
func (n *nodeState) unwatch(wake chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.streams, wake)
}

// wake wakes every stream of the proxy; n.mu must be held.
func (n *nodeState) wake() {
	for wake := range n.streams {
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
