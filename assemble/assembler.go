package assemble

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Sink receives snapshots: the xDS server.
type Sink interface {
	Update(*model.Snapshot)
	SetConfigErrors(n int)
}

// Assembler assembles snapshots from configuration sources and discovery
// registries. Add every source and registry before Run.
type Assembler struct {
	settings   Settings
	logger     *slog.Logger
	sources    []policy.ConfigSource
	registries []discovery.Registry

	mu       sync.Mutex
	version  uint64
	lastGood map[policy.Key]*policy.Object
	config   *policy.Config
	problems []*policy.ConfigError
	// syncWaitOver: RunOptions.SyncWait has passed; heldBack: a snapshot
	// waits for it (a source had not synced when one was due); missing:
	// the sources last published without.
	syncWaitOver bool
	heldBack     bool
	missing      []string
	// firstChange: unix nanoseconds of the first change signalled since
	// the last publication (Snapshot.ChangedAt); 0 for none.
	firstChange atomic.Int64
}

// New returns an Assembler with settings.
func New(settings Settings, logger *slog.Logger) *Assembler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Assembler{settings: settings, logger: logger, lastGood: map[policy.Key]*policy.Object{}, config: policy.NewConfig(nil)}
}

// AddSource adds a configuration source, after those added before in
// precedence.
func (a *Assembler) AddSource(s policy.ConfigSource) { a.sources = append(a.sources, s) }

// AddRegistry adds a discovery registry, after those added before.
func (a *Assembler) AddRegistry(r discovery.Registry) { a.registries = append(a.registries, r) }

// Assemble accepts the sources' current definitions and builds a snapshot
// with the registries' current catalogs. It returns the configuration's
// problems too.
func (a *Assembler) Assemble() (*model.Snapshot, []*policy.ConfigError) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acceptDefinitions()
	catalogs := make([]*discovery.Catalog, 0, len(a.registries))
	for _, r := range a.registries {
		catalogs = append(catalogs, r.Catalog())
	}
	a.version++
	return Build(a.version, a.config, a.settings, catalogs...), a.problems
}

// acceptDefinitions merges the sources' definitions into the configuration
// served, which keeps its identity when no served version changed.
func (a *Assembler) acceptDefinitions() {
	var defs []policy.Definition
	var problems []*policy.ConfigError
	for _, s := range a.sources {
		d, p := s.Definitions()
		defs = append(defs, d...)
		problems = append(problems, p...)
	}
	served, acceptProblems := policy.Accept(a.lastGood, defs)
	a.lastGood = served
	a.problems = append(problems, acceptProblems...)
	if !sameVersions(a.config, served) {
		a.config = policy.NewConfig(objectsOf(served))
	}
}

func sameVersions(cfg *policy.Config, served map[policy.Key]*policy.Object) bool {
	if cfg.Len() != len(served) {
		return false
	}
	for k, o := range served {
		if cfg.Get(k) != o {
			return false
		}
	}
	return true
}

func objectsOf(m map[policy.Key]*policy.Object) []*policy.Object {
	out := make([]*policy.Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// RunOptions pace Run.
type RunOptions struct {
	// Quiet and MaxWait debounce changes: changes within Quiet of each
	// other, up to MaxWait after the first, are published once.
	Quiet, MaxWait time.Duration
	// SyncWait bounds the wait for every source's first sync: after it, a
	// snapshot is published without the sources still missing (logged).
	// Zero waits for ever.
	SyncWait time.Duration
}

// Run publishes to sink once every source has synced (or SyncWait has
// passed, when a snapshot waits for it), then after every change of a
// source or registry: nothing is published again when nothing changed. It
// returns when ctx ends.
func (a *Assembler) Run(ctx context.Context, sink Sink, opts RunOptions) {
	changes := make(chan struct{}, 1)
	if opts.SyncWait > 0 {
		timer := time.AfterFunc(opts.SyncWait, func() {
			a.mu.Lock()
			a.syncWaitOver = true
			held := a.heldBack
			a.mu.Unlock()
			if held {
				debounce.Signal(changes)
			}
		})
		defer timer.Stop()
	}
	for _, s := range a.sources {
		go a.forward(ctx, s.Changes(), changes)
	}
	for _, r := range a.registries {
		go a.forward(ctx, r.Changes(), changes)
	}
	debounce.Signal(changes)
	debounce.Loop(ctx, changes, opts.Quiet, opts.MaxWait, func() { a.publish(sink) })
}

// forward signals to every value from from until ctx ends, noting when
// the first change since the last publication came.
func (a *Assembler) forward(ctx context.Context, from <-chan struct{}, to chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-from:
			a.firstChange.CompareAndSwap(0, time.Now().UnixNano())
			debounce.Signal(to)
		}
	}
}

// publish hands sink a new snapshot once every source has synced. A panic
// is logged and the previous snapshot stays.
func (a *Assembler) publish(sink Sink) {
	defer func() {
		if r := recover(); r != nil {
			a.logger.Error("snapshot not built; serving the previous one", "panic", r)
		}
	}()
	if !a.readyToPublish() {
		return
	}
	snap, problems := a.Assemble()
	if first := a.firstChange.Swap(0); first != 0 {
		snap.ChangedAt = time.Unix(0, first)
	}
	sink.SetConfigErrors(len(problems))
	sink.Update(snap)
	a.logger.Info("snapshot published", "version", snap.Version, "objects", snap.Config.Len(), "services", len(snap.Catalog.Services()))
}

// readyToPublish reports whether every source has synced, or the wait for
// them is over; it logs sources published without, and their arrival.
func (a *Assembler) readyToPublish() bool {
	var missing []string
	for _, s := range a.sources {
		if !s.Synced() {
			missing = append(missing, s.Name())
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.heldBack = len(missing) > 0 && !a.syncWaitOver
	if a.heldBack {
		return false
	}
	if !slices.Equal(missing, a.missing) {
		if len(missing) > 0 {
			a.logger.Warn("configuration sources not synced; publishing without them until they are", "sources", missing)
		} else {
			a.logger.Info("every configuration source synced")
		}
		a.missing = missing
	}
	return true
}
