package consul

import (
	"context"
	"errors"
	"time"
)

// Status is how current a Consul datacenter's catalog is.
type Status struct {
	// Cluster is the registry's name (Registry.Name).
	Cluster string
	// Synced: every service Consul listed has answered at least once.
	Synced bool
	// Stale: the catalog may be behind Consul: it is the state file's
	// (FromState), or a query is failing (Error). The catalog is the last
	// known one throughout.
	Stale bool
	// FromState: the catalog is the one read from Options.StateDir; Consul
	// has not answered for every service since the registry was made.
	FromState bool
	// LastSync is when Consul first answered for every service, or, for a
	// catalog from the state file, when that was written; zero when never.
	LastSync time.Time
	// Since is when the catalog became stale; zero when not stale.
	Since time.Time
	// Error is the first error of the current outage; empty when none.
	Error string
	// Failing counts the queries failing now (the service list's, each
	// service's).
	Failing int
}

// health is what Status reports, guarded by Registry.mu.
type health struct {
	synced      bool
	fromState   bool
	staleSince  time.Time
	outageStart time.Time
	lastError   string
	lastSync    time.Time
	failing     map[string]bool // queries failing now, by service name (catalogKey: the list)
}

// Status reports how current the catalog is.
func (r *Registry) Status() Status {
	name := r.Name()
	r.mu.RLock()
	defer r.mu.RUnlock()
	h := r.health
	return Status{Cluster: name, Synced: h.synced, Stale: !h.staleSince.IsZero(), FromState: h.fromState,
		LastSync: h.lastSync, Since: h.staleSince, Error: h.lastError, Failing: len(h.failing)}
}

// trouble records a failed query (key: the service, catalogKey for the
// list, "agent" for the datacenter). The first of an outage marks the
// registry stale and is logged, once; errors of a stopping registry are
// not trouble.
func (r *Registry) trouble(ctx context.Context, key string, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	if r.health.failing == nil {
		r.health.failing = map[string]bool{}
	}
	r.health.failing[key] = true
	first := r.health.outageStart.IsZero()
	if first {
		r.health.outageStart, r.health.lastError = now, err.Error()
		if r.health.staleSince.IsZero() {
			r.health.staleSince = now
		}
	}
	r.mu.Unlock()
	if first {
		r.opts.Logger.Warn("consul unreachable; serving its last known services and endpoints",
			"consul", r.Name(), "address", r.opts.Address, "error", err)
	}
}

// recovered records a query answering; the last failing one to answer
// ends the outage (logged with its length).
func (r *Registry) recovered(key string) {
	r.mu.Lock()
	if !r.health.failing[key] {
		r.mu.Unlock()
		return
	}
	delete(r.health.failing, key)
	start := r.health.outageStart
	over := len(r.health.failing) == 0
	if over {
		r.health.outageStart, r.health.lastError = time.Time{}, ""
		if !r.health.fromState {
			r.health.staleSince = time.Time{}
		}
	}
	r.mu.Unlock()
	if over {
		r.opts.Logger.Warn("consul reachable again; its catalog is current", "consul", r.Name(),
			"outage", time.Since(start).Round(time.Millisecond))
	}
}
