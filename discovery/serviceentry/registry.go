package serviceentry

import (
	"sync"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// Registry is the discovery.Registry of file mode: its catalog is built from
// the ServiceEntry and WorkloadEntry objects of the last Config it was given.
// It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	catalog *discovery.Catalog
	changes chan struct{}
}

var _ discovery.Registry = (*Registry)(nil)

// NewRegistry returns a registry with an empty catalog.
func NewRegistry() *Registry {
	return &Registry{catalog: discovery.NewCatalog(nil, nil), changes: make(chan struct{}, 1)}
}

// Name is "file".
func (r *Registry) Name() string { return RegistryName }

// Catalog returns the current catalog; never nil.
func (r *Registry) Catalog() *discovery.Catalog {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.catalog
}

// Changes receives a value after Update changed the catalog. Sends coalesce.
func (r *Registry) Changes() <-chan struct{} { return r.changes }

// Update rebuilds the catalog from cfg. It signals Changes only when the new
// catalog differs from the current one.
func (r *Registry) Update(cfg *policy.Config) {
	next := Build(cfg)
	r.mu.Lock()
	changed := !r.catalog.Equal(next)
	if changed {
		r.catalog = next
	}
	r.mu.Unlock()
	if changed {
		r.notify()
	}
}

func (r *Registry) notify() { debounce.Signal(r.changes) }
