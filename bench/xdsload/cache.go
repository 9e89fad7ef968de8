package xdsload

import (
	"bytes"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/types/known/anypb"
)

// digest is a 128-bit hash of some bytes: two independently seeded 64-bit
// hashes, so that distinct inputs colliding is out of practical reach.
type digest [2]uint64

var digestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func digestBytes(b []byte) digest {
	return digest{maphash.Bytes(digestSeeds[0], b), maphash.Bytes(digestSeeds[1], b)}
}

// decodeCache decodes and validates each distinct resource encoding once
// for all the proxies of a run: it maps (type URL, digest of the Any's
// bytes) to the decoded resource or the reason it was rejected. It is safe
// for concurrent use; a resource that several proxies receive at once is
// decoded by the first while the others wait for its result.
//
// It holds at most maxCacheEntries entries: each shard keeps two
// generations, and when the current one is full the previous one is
// dropped. An entry used again is copied into the current generation, so
// what the proxies keep receiving stays.
type decodeCache struct {
	shards [cacheShards]cacheShard
	// decodes counts actual decodes (misses), for tests and benchmarks.
	decodes atomic.Int64
}

const (
	cacheShards = 16
	// maxCacheEntries bounds the cache. An entry is small (a name,
	// referenced names, a digest, detector facts), not the decoded message.
	maxCacheEntries = 1 << 16
	generationSize  = maxCacheEntries / cacheShards / 2
)

type cacheKey struct {
	typeURL string
	value   digest
}

type cacheShard struct {
	mu       sync.Mutex
	current  map[cacheKey]*cacheEntry
	previous map[cacheKey]*cacheEntry
}

// cacheEntry is one decode result; ready is closed once it is set.
type cacheEntry struct {
	ready chan struct{}
	res   *decoded
	err   error
}

func newDecodeCache() *decodeCache {
	return &decodeCache{}
}

// decode decodes and validates one resource of type typeURL, or returns
// the result of an earlier decode of the same bytes.
func (c *decodeCache) decode(typeURL string, a rawAny) (*decoded, error) {
	if err := checkType(typeURL, a); err != nil {
		return nil, err
	}
	key := cacheKey{typeURL: typeURL, value: digestBytes(a.value)}
	e, owner := c.shards[key.value[0]%cacheShards].entry(key)
	if owner {
		c.decodes.Add(1)
		// The value points into a received buffer: the Any gets a copy.
		e.res, e.err = decodeResource(typeURL, &anypb.Any{TypeUrl: typeURL, Value: bytes.Clone(a.value)})
		close(e.ready)
	} else {
		<-e.ready
	}
	return e.res, e.err
}

// entry returns the entry of key, creating it when there is none; owner
// tells the caller it created it and must fill it.
func (s *cacheShard) entry(key cacheKey) (e *cacheEntry, owner bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.current[key]; e != nil {
		return e, false
	}
	e = s.previous[key]
	if e == nil {
		e, owner = &cacheEntry{ready: make(chan struct{})}, true
	}
	s.put(key, e)
	return e, owner
}

// put adds an entry to the current generation, starting a new generation
// when it is full.
func (s *cacheShard) put(key cacheKey, e *cacheEntry) {
	if len(s.current) >= generationSize || s.current == nil {
		s.previous, s.current = s.current, map[cacheKey]*cacheEntry{}
	}
	s.current[key] = e
}

// len is the number of entries held.
func (c *decodeCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.current) + len(s.previous)
		s.mu.Unlock()
	}
	return n
}
