package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span names of a push (Options.Tracer). The root span runs from the first
// configuration change the push carries (Snapshot.ChangedAt: a source or
// registry signalled it), else its first Update, to the last
// acknowledgement of what it set (or ackWait, or the next push); its
// children are laid out where the work happened, across the workers:
//
//	isthmus.push       snapshot version, proxies, views built and kept
//	  assemble         from the change to the snapshot's Update (the assembler's quiet period and build)
//	  debounce         from the first Update to the push; updates coalesced
//	  index            indexing the snapshot and taking over what it cannot change
//	  translate        translating the proxies (first start to last end); views built/kept
//	  prepare          validating and encoding their resources
//	  send TYPE        the responses of one xDS type written to the streams
//	  ack              until the proxies acknowledged every version set
const (
	spanPush      = "isthmus.push"
	spanAssemble  = "assemble"
	spanDebounce  = "debounce"
	spanIndex     = "index"
	spanTranslate = "translate"
	spanPrepare   = "prepare"
	spanSend      = "send "
	spanAck       = "ack"
)

// ackWait bounds how long a push's trace waits for acknowledgements.
const ackWait = 10 * time.Second

// phase is the extent of one kind of work of a push: from its first start
// to its last end, how many times it ran and how long in total.
type phase struct {
	start, end time.Time
	count      int
	busy       time.Duration
}

// pushTrace records one push for its spans. A nil *pushTrace records
// nothing, so the push path calls it without checking for a tracer.
type pushTrace struct {
	tracer  trace.Tracer
	start   time.Time // the first Update of the push
	updates int64
	attrs   []attribute.KeyValue

	mu     sync.Mutex
	phases map[string]*phase
	order  []string

	pending atomic.Int64 // versions set and not yet acknowledged
	done    atomic.Bool
	pushEnd time.Time // guarded by mu
	timer   *time.Timer
}

// debounceState counts the Updates since the last push began, for the
// debounce span, and keeps the earliest change behind them, for the
// assemble span.
type debounceState struct {
	first   atomic.Int64 // unix nanoseconds of the first Update; 0 for none
	change  atomic.Int64 // unix nanoseconds of the earliest Snapshot.ChangedAt; 0 for none
	updates atomic.Int64
}

// noteUpdate counts an Update of a snapshot changed at changedAt (zero:
// unknown).
func (d *debounceState) noteUpdate(changedAt time.Time) {
	d.first.CompareAndSwap(0, time.Now().UnixNano())
	if !changedAt.IsZero() {
		at := changedAt.UnixNano()
		for {
			cur := d.change.Load()
			if (cur != 0 && cur <= at) || d.change.CompareAndSwap(cur, at) {
				break
			}
		}
	}
	d.updates.Add(1)
}

// take returns the time of the first Update, of the earliest change (zero
// for none) and how many Updates came, and starts counting anew.
func (d *debounceState) take() (first, change time.Time, updates int64) {
	f, c := d.first.Swap(0), d.change.Swap(0)
	updates = d.updates.Swap(0)
	first = time.Now()
	if f != 0 {
		first = time.Unix(0, f)
	}
	if c != 0 {
		change = time.Unix(0, c)
	}
	return first, change, updates
}

// startPushTrace begins the trace of a push starting now; nil without a
// tracer. The previous push's trace, if still waiting for
// acknowledgements, ends.
func (s *Server) startPushTrace(now time.Time) *pushTrace {
	first, change, updates := s.debounce.take()
	if s.opts.Tracer == nil {
		return nil
	}
	if prev := s.trace.Load(); prev != nil {
		prev.finish()
	}
	pt := &pushTrace{tracer: s.opts.Tracer, start: first, updates: updates, phases: map[string]*phase{}}
	if !change.IsZero() && change.Before(first) {
		pt.start = change
		pt.record(spanAssemble, change, first)
	}
	pt.record(spanDebounce, first, now)
	s.trace.Store(pt)
	return pt
}

// record adds one run of a phase, from start to end.
func (pt *pushTrace) record(name string, start, end time.Time) {
	if pt == nil || pt.done.Load() {
		return
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	p := pt.phases[name]
	if p == nil {
		p = &phase{start: start, end: end}
		pt.phases[name] = p
		pt.order = append(pt.order, name)
	}
	p.start = minTime(p.start, start)
	p.end = maxTime(p.end, end)
	p.count++
	p.busy += end.Sub(start)
}

// since records one run of a phase that started at start and ends now.
func (pt *pushTrace) since(name string, start time.Time) {
	if pt != nil {
		pt.record(name, start, time.Now())
	}
}

// expectAck counts a version set by the push, to be acknowledged.
func (pt *pushTrace) expectAck() {
	if pt != nil {
		pt.pending.Add(1)
	}
}

// acked counts the acknowledgement of a version the push set, at; the
// last one ends the trace once the push itself has ended.
func (pt *pushTrace) acked(at time.Time, setAt time.Time) {
	if pt == nil {
		return
	}
	pt.record(spanAck, setAt, at)
	pt.settle()
}

// superseded counts a version the push set that a later one replaced
// before it was acknowledged.
func (pt *pushTrace) superseded() {
	if pt != nil {
		pt.settle()
	}
}

func (pt *pushTrace) settle() {
	if pt.pending.Add(-1) == 0 {
		pt.mu.Lock()
		ended := !pt.pushEnd.IsZero()
		pt.mu.Unlock()
		if ended {
			pt.finish()
		}
	}
}

// pushed notes the end of the push proper, with the root span's
// attributes; the trace ends when every version set is acknowledged, or
// after ackWait.
func (pt *pushTrace) pushed(attrs ...attribute.KeyValue) {
	if pt == nil {
		return
	}
	pt.mu.Lock()
	pt.pushEnd = time.Now()
	pt.attrs = attrs
	pt.timer = time.AfterFunc(ackWait, pt.finish)
	pt.mu.Unlock()
	if pt.pending.Load() <= 0 {
		pt.finish()
	}
}

// finish emits the spans of the push, once.
func (pt *pushTrace) finish() {
	if pt == nil || !pt.done.CompareAndSwap(false, true) {
		return
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.timer != nil {
		pt.timer.Stop()
	}
	end := pt.pushEnd
	if end.IsZero() {
		end = time.Now()
	}
	for _, p := range pt.phases {
		end = maxTime(end, p.end)
	}
	ctx, root := pt.tracer.Start(context.Background(), spanPush, trace.WithTimestamp(pt.start),
		trace.WithAttributes(pt.attrs...))
	for _, name := range pt.order {
		pt.emitPhase(ctx, name, pt.phases[name])
	}
	root.End(trace.WithTimestamp(end))
}

func (pt *pushTrace) emitPhase(ctx context.Context, name string, p *phase) {
	attrs := []attribute.KeyValue{attribute.Int("runs", p.count), attribute.Float64("busy_seconds", p.busy.Seconds())}
	switch name {
	case spanDebounce:
		attrs = []attribute.KeyValue{attribute.Int64("updates", pt.updates)}
	case spanTranslate:
		attrs = append(attrs, pt.viewAttrs()...)
	}
	_, span := pt.tracer.Start(ctx, name, trace.WithTimestamp(p.start), trace.WithAttributes(attrs...))
	span.End(trace.WithTimestamp(p.end))
}

// viewAttrs are the root's views attributes, repeated on translate.
func (pt *pushTrace) viewAttrs() []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, a := range pt.attrs {
		if a.Key == attrViewsBuilt || a.Key == attrViewsKept {
			out = append(out, a)
		}
	}
	return out
}

// Attributes of the push span.
const (
	attrViewsBuilt = attribute.Key("views.built")
	attrViewsKept  = attribute.Key("views.kept")
)

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
