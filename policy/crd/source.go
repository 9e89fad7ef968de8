package crd

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	versioned "istio.io/client-go/pkg/clientset/versioned"
	informers "istio.io/client-go/pkg/informers/externalversions"
	"k8s.io/client-go/tools/cache"

	"github.com/isthmus-mesh/isthmus/debounce"
	"github.com/isthmus-mesh/isthmus/policy"
)

// Source is the Istio configuration of one API server. Start it with Run.
type Source struct {
	cluster    string
	client     versioned.Interface
	namespaces []string // all namespaces when empty
	logger     *slog.Logger
	changes    chan struct{}
	synced     atomic.Bool
	// statusQueue carries statuses to write (Options.WriteStatus), nil
	// when Isthmus writes none.
	statusQueue chan statusUpdate

	mu       sync.Mutex
	objects  map[policy.Key]definedObject // by key, across kinds and informers
	problems []*policy.ConfigError        // of the source itself (kinds not served)
}

// definedObject is one custom resource as a definition and its problems.
type definedObject struct {
	def      policy.Definition
	problems []*policy.ConfigError
}

// statusQueueSize bounds the statuses waiting to be written.
const statusQueueSize = 1024

// Options configure a Source.
type Options struct {
	// Cluster names the config cluster in errors and logs.
	Cluster string
	// Namespaces limits watching to these namespaces; empty watches all.
	Namespaces []string
	// WriteStatus writes, on every object Isthmus rejects, a status
	// condition and validation message saying why (see status.go); it
	// needs RBAC to patch the kinds' status subresources.
	WriteStatus bool
	Logger      *slog.Logger
}

// New returns a Source reading through client. Nothing is read until Run.
func New(client versioned.Interface, opts Options) *Source {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var queue chan statusUpdate
	if opts.WriteStatus {
		queue = make(chan statusUpdate, statusQueueSize)
	}
	return &Source{
		statusQueue: queue,
		cluster:     opts.Cluster,
		client:      client,
		namespaces:  opts.Namespaces,
		logger:      logger.With("cluster", opts.Cluster),
		changes:     make(chan struct{}, 1),
		objects:     map[policy.Key]definedObject{},
	}
}

// Name is "cluster NAME".
func (s *Source) Name() string { return "cluster " + s.cluster }

// Changes receives a value after Definitions changed.
func (s *Source) Changes() <-chan struct{} { return s.changes }

// Synced reports whether every watched kind has been listed once.
func (s *Source) Synced() bool { return s.synced.Load() }

// Definitions returns every object's definition, by key, and the problems.
func (s *Source) Definitions() ([]policy.Definition, []*policy.ConfigError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]policy.Key, 0, len(s.objects))
	for k := range s.objects {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	defs := make([]policy.Definition, 0, len(keys))
	problems := slices.Clone(s.problems)
	for _, k := range keys {
		o := s.objects[k]
		defs = append(defs, o.def)
		problems = append(problems, o.problems...)
	}
	return defs, problems
}

func compareKeys(a, b policy.Key) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// Run watches the API server until ctx ends. It returns once every watched
// kind has been listed (or ctx ended first), leaving the watches running.
func (s *Source) Run(ctx context.Context) error {
	served, problems := servedKinds(s.client, s.cluster)
	s.mu.Lock()
	s.problems = problems
	s.mu.Unlock()
	for _, p := range problems {
		s.logger.Warn("Istio configuration kind not read", "error", p.Msg)
	}
	if s.statusQueue != nil {
		go s.writeStatuses(ctx, s.statusQueue)
	}
	var syncs []cache.InformerSynced
	for _, ns := range s.watchedNamespaces() {
		factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithNamespace(ns))
		for _, k := range served {
			inf := k.informer(factory)
			if err := s.watch(inf, k); err != nil {
				return fmt.Errorf("cluster %s: watch %s: %w", s.cluster, k.resource, err)
			}
			syncs = append(syncs, inf.HasSynced)
		}
		factory.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return fmt.Errorf("cluster %s: Istio configuration not listed: %w", s.cluster, ctx.Err())
	}
	s.synced.Store(true)
	debounce.Signal(s.changes)
	return nil
}

// watchedNamespaces are the namespaces to watch; "" is all of them.
func (s *Source) watchedNamespaces() []string {
	if len(s.namespaces) == 0 {
		return []string{""}
	}
	return s.namespaces
}

// watch defines, redefines and forgets objects as inf sees them.
func (s *Source) watch(inf cache.SharedIndexInformer, k kind) error {
	outage := &watchOutage{logger: s.logger, resource: k.resource}
	if err := inf.SetWatchErrorHandlerWithContext(outage.handle); err != nil {
		return err
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { outage.recovered(); s.define(obj) },
		UpdateFunc: func(_, obj any) { outage.recovered(); s.define(obj) },
		DeleteFunc: s.forget,
	})
	return err
}

// define converts an object and records its definition.
func (s *Source) define(obj any) {
	r, ok := s.read(obj)
	if !ok {
		return
	}
	s.mu.Lock()
	prev, known := s.objects[r.def.Key]
	s.objects[r.def.Key] = definedObject{def: r.def, problems: r.problems}
	s.mu.Unlock()
	if !known || !sameProblems(prev.problems, r.problems) {
		for _, p := range r.problems {
			s.logger.Warn("invalid Istio configuration", "object", p.Key.String(), "resourceVersion", r.def.Source.ResourceVersion,
				"field", p.Field, "error", p.Msg)
		}
	}
	s.queueStatus(r)
	if s.synced.Load() {
		debounce.Signal(s.changes)
	}
}

// queueStatus asks for the object's status to say whether Isthmus accepts
// it, when Options.WriteStatus is set and the status says otherwise.
func (s *Source) queueStatus(r resource) {
	if s.statusQueue == nil {
		return
	}
	status, changed := desiredStatus(r.status, r.problems, r.generation)
	k, ok := kindOf(r.def.Key.Kind)
	if !changed || !ok {
		return
	}
	select {
	case s.statusQueue <- statusUpdate{kind: k, namespace: r.def.Key.Namespace, name: r.def.Key.Name, status: status}:
	default:
		s.logger.Warn("status of an Istio object not written: too many pending", "object", r.def.Key.String())
	}
}

func sameProblems(a, b []*policy.ConfigError) bool {
	return slices.EqualFunc(a, b, func(x, y *policy.ConfigError) bool { return x.Field == y.Field && x.Msg == y.Msg })
}

// forget drops a deleted object's definition.
func (s *Source) forget(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	r, ok := s.read(obj)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.objects, r.def.Key)
	s.mu.Unlock()
	if s.synced.Load() {
		debounce.Signal(s.changes)
	}
}

// watchOutage logs a kind's watch failing, once until it recovers, and its
// recovery with the outage's length.
type watchOutage struct {
	logger   *slog.Logger
	resource string
	mu       sync.Mutex
	since    time.Time
}

func (w *watchOutage) handle(_ context.Context, _ *cache.Reflector, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since.IsZero() {
		w.since = time.Now()
		w.logger.Warn("watch of Istio configuration failed; serving the last listed objects", "resource", w.resource, "error", err)
	}
}

func (w *watchOutage) recovered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.since.IsZero() {
		w.logger.Warn("watch of Istio configuration recovered", "resource", w.resource, "after", time.Since(w.since).Round(time.Second))
		w.since = time.Time{}
	}
}
