package kube

import (
	"context"
	"errors"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Status is how current a cluster's catalog is.
type Status struct {
	// Cluster is the cluster ID.
	Cluster string
	// Synced: the cluster has been listed whole at least once (HasSynced).
	Synced bool
	// Stale: the catalog may be behind the cluster. It is served from the
	// state file (FromState), kept from before new credentials, or the
	// cluster's watches are failing (Error). The catalog is the last known
	// one throughout.
	Stale bool
	// FromState: the catalog is the one read from Options.StateDir; the
	// cluster has not been listed since the registry was made.
	FromState bool
	// LastSync is when the cluster was last listed whole (first, after an
	// outage, or for a catalog from the state file, when that was written);
	// zero when never.
	LastSync time.Time
	// Since is when the catalog became stale (an outage's first error, or
	// when the registry started from its state); zero when not stale.
	Since time.Time
	// Error is the first error of the current outage; empty when none.
	Error string
}

// health is what Status reports, guarded by Registry.mu.
type health struct {
	synced      bool
	fromState   bool
	staleSince  time.Time
	outageStart time.Time // the first watch error since the last full listing
	lastError   string
	lastSync    time.Time
}

// Status reports how current the catalog is.
func (r *Registry) Status() Status {
	r.mu.RLock()
	h := r.health
	r.mu.RUnlock()
	s := Status{Cluster: r.opts.ClusterID, Synced: h.synced, Stale: !h.staleSince.IsZero(), FromState: h.fromState,
		LastSync: h.lastSync, Since: h.staleSince, Error: h.lastError}
	return s
}

// inOutage reports whether a watch has failed since the last full listing.
func (r *Registry) inOutage() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return !r.health.outageStart.IsZero()
}

// trouble is called with every list or watch error of generation g. The
// first of an outage marks the cluster stale and is logged, once.
func (r *Registry) trouble(g *generation, ctx context.Context, err error) {
	if !isOutage(ctx, err) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	if g.retired {
		r.mu.Unlock()
		return
	}
	g.troubled.Store(true)
	first := r.health.outageStart.IsZero()
	if first {
		r.health.outageStart, r.health.lastError = now, err.Error()
		if r.health.staleSince.IsZero() {
			r.health.staleSince = now
		}
	}
	r.mu.Unlock()
	if first {
		r.opts.Logger.Warn("kubernetes cluster unreachable; serving its last known services and endpoints",
			"cluster", r.opts.ClusterID, "error", err)
	}
}

// isOutage tells errors that mean the cluster cannot be watched from those
// a reflector handles in its stride: stopping, a watch ending, an expired
// resource version (it lists again) and throttling (it backs off).
func isOutage(ctx context.Context, err error) bool {
	switch {
	case err == nil, ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, io.EOF):
		return false
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err), apierrors.IsTooManyRequests(err):
		return false
	}
	return true
}
