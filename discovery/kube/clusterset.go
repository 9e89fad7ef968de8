package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/discovery"
)

// ClusterSetName is a ClusterSet's registry name.
const ClusterSetName = "clusters"

// replaceWait bounds how long a replaced cluster's new registry waits for
// the old one to stop (and flush its state file) before it starts.
const replaceWait = 5 * time.Second

// ClusterSet is a discovery.Registry over a set of clusters that can change
// while it runs: each cluster is a Registry running in the background, and
// the set's catalog merges theirs. It is safe for concurrent use, and no
// method waits on a cluster's network.
type ClusterSet struct {
	opts    Options // for every member, but ClusterID
	changes chan struct{}
	running sync.WaitGroup // members' Run and change forwarding

	mu      sync.Mutex
	members map[string]*member
	seq     int
	closed  bool

	mergeMu sync.Mutex
	inputs  []*discovery.Catalog // the members' catalogs merged was made of, in order
	merged  *discovery.Catalog
}

// member is one cluster of a set.
type member struct {
	reg    *Registry
	remote bool // from a remote secret: merged after the others
	seq    int  // order of addition
	cancel context.CancelFunc
	done   chan struct{} // closed when reg.Run has returned
}

var _ discovery.Registry = (*ClusterSet)(nil)

// NewClusterSet returns an empty set whose clusters take opts (but
// ClusterID, which each Add names).
func NewClusterSet(opts Options) (*ClusterSet, error) {
	opts.ClusterID = ClusterSetName // only to pass the check
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &ClusterSet{opts: opts, changes: make(chan struct{}, 1), members: map[string]*member{},
		merged: discovery.NewCatalog(nil, nil)}, nil
}

// Name is ClusterSetName.
func (s *ClusterSet) Name() string { return ClusterSetName }

// Changes receives a value after a member's catalog changed or the set of
// members did. Sends coalesce.
func (s *ClusterSet) Changes() <-chan struct{} { return s.changes }

// Catalog merges the members' catalogs (discovery.Merge): first the
// clusters added with Add or AddClient, in the order they were added, then
// those of remote secrets, by cluster ID. Never nil.
func (s *ClusterSet) Catalog() *discovery.Catalog {
	ms := s.ordered()
	cats := make([]*discovery.Catalog, len(ms))
	for i, m := range ms {
		cats[i] = m.reg.Catalog()
	}
	s.mergeMu.Lock()
	defer s.mergeMu.Unlock()
	if !slices.Equal(cats, s.inputs) || s.inputs == nil {
		s.merged, s.inputs = discovery.Merge(cats...), cats
	}
	return s.merged
}

// ordered lists the members in merge order.
func (s *ClusterSet) ordered() []*member {
	s.mu.Lock()
	ms := make([]*member, 0, len(s.members))
	for _, m := range s.members {
		ms = append(ms, m)
	}
	s.mu.Unlock()
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.remote != b.remote && a.remote:
			return 1
		case a.remote != b.remote:
			return -1
		case a.remote:
			return cmp.Compare(a.reg.Name(), b.reg.Name())
		}
		return cmp.Compare(a.seq, b.seq)
	})
	return ms
}

// Add watches the cluster cfg reaches as clusterID, in the background
// until Remove or ctx ends. It returns at once; Status tells when the
// cluster is listed. A clusterID the set has already is an error.
func (s *ClusterSet) Add(ctx context.Context, clusterID string, cfg *rest.Config) error {
	client, err := NewClient(cfg)
	if err != nil {
		return fmt.Errorf("cluster %s: client for %s: %w", clusterID, cfg.Host, err)
	}
	return s.AddClient(ctx, clusterID, client)
}

// AddClient is Add with a client (a fake one in tests).
func (s *ClusterSet) AddClient(ctx context.Context, clusterID string, client kubernetes.Interface) error {
	return s.add(ctx, clusterID, client, false)
}

// add starts a member.
func (s *ClusterSet) add(ctx context.Context, clusterID string, client kubernetes.Interface, remote bool) error {
	opts := s.opts
	opts.ClusterID = clusterID
	reg, err := New(client, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if _, dup := s.members[clusterID]; dup || s.closed {
		s.mu.Unlock()
		if s.closed {
			return fmt.Errorf("cluster %s: %w", clusterID, ErrSetClosed)
		}
		return fmt.Errorf("cluster %s: %w", clusterID, ErrClusterExists)
	}
	s.seq++
	m, mctx := newMember(ctx, reg, remote, s.seq)
	s.members[clusterID] = m
	s.mu.Unlock()
	s.start(mctx, m, nil)
	debounce.Signal(s.changes)
	return nil
}

// ErrClusterExists: Add was given a cluster ID the set has.
var ErrClusterExists = errors.New("cluster already in the set")

// ErrSetClosed: Add after Close.
var ErrSetClosed = errors.New("cluster set closed")

// ErrNoCluster: Replace was given a cluster ID the set does not have.
var ErrNoCluster = errors.New("no such cluster in the set")

// Replace watches clusterID with new credentials: a new registry on cfg
// takes the member's place, serving the old catalog (stale) until it has
// listed the cluster. The cluster keeps its place in the merge order.
func (s *ClusterSet) Replace(ctx context.Context, clusterID string, cfg *rest.Config) error {
	client, err := NewClient(cfg)
	if err != nil {
		return fmt.Errorf("cluster %s: client for %s: %w", clusterID, cfg.Host, err)
	}
	return s.ReplaceClient(ctx, clusterID, client)
}

// ReplaceClient is Replace with a client.
func (s *ClusterSet) ReplaceClient(ctx context.Context, clusterID string, client kubernetes.Interface) error {
	s.mu.Lock()
	old, ok := s.members[clusterID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("cluster %s: %w", clusterID, ErrNoCluster)
	}
	opts := s.opts
	opts.ClusterID = clusterID
	var seed *discovery.Catalog
	if cat := old.reg.Catalog(); old.reg.HasSynced() || len(cat.Services()) > 0 {
		seed = cat
	}
	reg, err := newRegistry(client, opts, seed)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	m, mctx := newMember(ctx, reg, old.remote, old.seq)
	s.members[clusterID] = m
	s.mu.Unlock()
	old.cancel()
	s.start(mctx, m, old.done)
	debounce.Signal(s.changes)
	return nil
}

// newMember makes a member whose registry runs until ctx ends or it is
// cancelled; it returns the member's context.
func newMember(ctx context.Context, reg *Registry, remote bool, seq int) (*member, context.Context) {
	m := &member{reg: reg, remote: remote, seq: seq, done: make(chan struct{})}
	ctx, m.cancel = context.WithCancel(ctx)
	return m, ctx
}

// start runs m's registry, after after is closed (or replaceWait), and
// forwards its changes, until ctx (the member's) ends.
func (s *ClusterSet) start(ctx context.Context, m *member, after <-chan struct{}) {
	s.running.Go(func() {
		defer close(m.done)
		if after != nil {
			select {
			case <-after:
			case <-time.After(replaceWait):
			}
		}
		_ = m.reg.Run(ctx) // fails only when run twice
	})
	s.running.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.reg.Changes():
				debounce.Signal(s.changes)
			}
		}
	})
}

// Remove stops watching clusterID and drops its services and endpoints
// from the catalog. It reports whether the set had the cluster, and does
// not wait for its informers to stop (Close does).
func (s *ClusterSet) Remove(clusterID string) bool {
	s.mu.Lock()
	m, ok := s.members[clusterID]
	delete(s.members, clusterID)
	s.mu.Unlock()
	if ok {
		m.cancel()
		debounce.Signal(s.changes)
	}
	return ok
}

// Has reports whether the set has clusterID, and whether it came from a
// remote secret.
func (s *ClusterSet) Has(clusterID string) (has, remote bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[clusterID]
	return ok, ok && m.remote
}

// Cluster returns the registry of clusterID, or nil.
func (s *ClusterSet) Cluster(clusterID string) *Registry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.members[clusterID]; ok {
		return m.reg
	}
	return nil
}

// Statuses reports every member's Status, in merge order.
func (s *ClusterSet) Statuses() []Status {
	ms := s.ordered()
	out := make([]Status, len(ms))
	for i, m := range ms {
		out[i] = m.reg.Status()
	}
	return out
}

// WaitForSync waits until every current member has synced (HasSynced) or
// ctx ends; then the error names the clusters not synced yet.
func (s *ClusterSet) WaitForSync(ctx context.Context) error {
	var errs []error
	for _, m := range s.ordered() {
		errs = append(errs, m.reg.WaitForSync(ctx))
	}
	return errors.Join(errs...)
}

// Close removes every member, refuses later Adds, and returns once all their informers, and
// those of members removed before, have stopped.
func (s *ClusterSet) Close() {
	s.mu.Lock()
	ms := s.members
	s.members, s.closed = map[string]*member{}, true
	s.mu.Unlock()
	for _, m := range ms {
		m.cancel()
	}
	if len(ms) > 0 {
		debounce.Signal(s.changes)
	}
	s.running.Wait()
}
