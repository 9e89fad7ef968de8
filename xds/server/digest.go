package server

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// resourceDigest is the outcome of validating and hashing one resource.
type resourceDigest struct {
	sum [sha256.Size]byte
	err error
}

// digestMemo validates and hashes each distinct resource object once.
// Translation shares resource objects between proxies, so a push validates
// and marshals every shared resource once, not once per proxy. Entries are
// keyed by object identity and kept for two pushes, so objects reused by
// the next push are not hashed again. Resources must not be modified after
// translation. Safe for concurrent use.
type digestMemo struct {
	mu       sync.Mutex
	current  map[types.Resource]resourceDigest
	previous map[types.Resource]resourceDigest
}

func newDigestMemo() *digestMemo {
	return &digestMemo{current: map[types.Resource]resourceDigest{}}
}

// digest returns r's validation result and content hash.
func (m *digestMemo) digest(r types.Resource) resourceDigest {
	m.mu.Lock()
	d, ok := m.current[r]
	if !ok {
		d, ok = m.previous[r]
	}
	m.mu.Unlock()
	if !ok {
		d = computeDigest(r)
	}
	m.mu.Lock()
	m.current[r] = d
	m.mu.Unlock()
	return d
}

// rotate starts a new generation: entries not used since the previous
// rotation are dropped.
func (m *digestMemo) rotate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.previous, m.current = m.current, make(map[types.Resource]resourceDigest, len(m.current))
}

type validator interface{ Validate() error }

func computeDigest(r types.Resource) resourceDigest {
	name := cache.GetResourceName(r)
	if name == "" {
		return resourceDigest{err: fmt.Errorf("%T without a name", r)}
	}
	if v, ok := r.(validator); ok {
		if err := v.Validate(); err != nil {
			return resourceDigest{err: fmt.Errorf("%q: %w", name, err)}
		}
	}
	b, err := cache.MarshalResource(r)
	if err != nil {
		return resourceDigest{err: fmt.Errorf("marshal %q: %w", name, err)}
	}
	return resourceDigest{sum: sha256.Sum256(b)}
}
