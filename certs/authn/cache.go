package authn

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/isthmus-mesh/isthmus/certs"
)

// reviewKey names one token of one cluster without keeping the token.
type reviewKey [sha256.Size]byte

func newReviewKey(clusterID, token string) reviewKey {
	h := sha256.New()
	h.Write([]byte(clusterID))
	h.Write([]byte{0})
	h.Write([]byte(token))
	var k reviewKey
	h.Sum(k[:0])
	return k
}

// reviewCache holds positive reviews until their deadline, at most max of
// them; the least recently used is dropped first. Safe for concurrent use.
type reviewCache struct {
	max int

	mu      sync.Mutex
	entries map[reviewKey]*list.Element // of *cachedReview
	order   *list.List                  // front: most recently used
}

type cachedReview struct {
	key   reviewKey
	id    certs.Identity
	until time.Time
}

func newReviewCache(max int) *reviewCache {
	return &reviewCache{max: max, entries: map[reviewKey]*list.Element{}, order: list.New()}
}

// get returns the identity cached for key if its deadline is after now.
func (c *reviewCache) get(key reviewKey, now time.Time) (certs.Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return certs.Identity{}, false
	}
	r := e.Value.(*cachedReview)
	if !now.Before(r.until) {
		c.remove(e)
		return certs.Identity{}, false
	}
	c.order.MoveToFront(e)
	return r.id, true
}

// put caches id for key until the deadline.
func (c *reviewCache) put(key reviewKey, id certs.Identity, until time.Time) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.remove(e)
	}
	for c.order.Len() >= c.max {
		c.remove(c.order.Back())
	}
	c.entries[key] = c.order.PushFront(&cachedReview{key: key, id: id, until: until})
}

func (c *reviewCache) remove(e *list.Element) {
	c.order.Remove(e)
	delete(c.entries, e.Value.(*cachedReview).key)
}

func (c *reviewCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
