package kubebench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// Phase names, as the report gives them.
const (
	PhaseEndpointChurn      = "endpoint-churn"
	PhaseVirtualServiceEdit = "virtual-service-edit"
)

// Writes describe the API writes a phase made: how many, at what rate,
// and how long the measured write took to return.
type Writes struct {
	// Requested is the rate asked for, per second.
	Requested float64 `json:"requestedPerSecond"`
	// Made counts the changes made; Failed those with a failed API call (a
	// change whose measured write failed is still waited for, so its
	// sidecars count as missed).
	Made       int    `json:"made"`
	Failed     int    `json:"failed"`
	FirstError string `json:"firstError,omitempty"`
	// Span is from the first change's start to the last write returning;
	// Achieved is Made over Span.
	Span     time.Duration `json:"spanNs"`
	Achieved float64       `json:"achievedPerSecond"`
	// Late is how far behind its schedule the latest change started
	// (every writer was busy).
	Late time.Duration `json:"lateNs"`
	// Write is the time the measured write (EndpointSlice update,
	// VirtualService update) took to return: latencies count from its
	// return.
	Write xdsload.Percentiles `json:"writeLatency"`
}

// writeLog collects a phase's writes from several goroutines.
type writeLog struct {
	mu       sync.Mutex
	writes   Writes
	took     []time.Duration
	start    time.Time
	lastDone time.Time
}

func newWriteLog(rate float64) *writeLog {
	return &writeLog{writes: Writes{Requested: rate}, start: time.Now()}
}

func (l *writeLog) late(d time.Duration) {
	l.mu.Lock()
	l.writes.Late = max(l.writes.Late, d)
	l.mu.Unlock()
}

func (l *writeLog) done(took time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes.Made++
	l.lastDone = time.Now()
	if err != nil {
		l.writes.Failed++
		if l.writes.FirstError == "" {
			l.writes.FirstError = err.Error()
		}
		return
	}
	l.took = append(l.took, took)
}

func (l *writeLog) result() Writes {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	if !l.lastDone.IsZero() {
		w.Span = l.lastDone.Sub(l.start)
		w.Achieved = float64(w.Made) / w.Span.Seconds()
	}
	w.Write = xdsload.PercentilesOf(l.took)
	return w
}

// churn writes EndpointSlice changes at opts.Churn per second for
// opts.Duration, the clusters taking turns and each cluster's services
// round robin. Each change moves one endpoint of a service to a new
// address (a restarted pod): the new pod is created, then the
// EndpointSlice rewritten (the measured write), then the old pod deleted.
// A sidecar holding the service has the change when its EDS shows the new
// address (or a later one of the same endpoint).
func (b *bench) churn(ctx context.Context) (xdsload.ScenarioResult, Writes) {
	ph := b.fleet.StartPhase(PhaseEndpointChurn)
	ph.ProfileCPU(ctx, b.opts.Duration)
	log := newWriteLog(b.opts.Churn)
	jobs := make(chan int) // handed over means started, so lateness is the start's
	var wg sync.WaitGroup
	for range b.opts.Writers {
		wg.Go(func() {
			for seq := range jobs {
				took, err := b.moveEndpoint(ctx, ph, seq)
				log.done(took, err)
			}
		})
	}
	interval := time.Duration(float64(time.Second) / b.opts.Churn)
	end := log.start.Add(b.opts.Duration)
	for seq := 0; ctx.Err() == nil; seq++ {
		at := log.start.Add(time.Duration(seq) * interval)
		if !at.Before(end) {
			break
		}
		waitUntil(ctx, at)
		select {
		case jobs <- seq:
		case <-ctx.Done():
		}
		log.late(time.Since(at))
	}
	close(jobs)
	wg.Wait()
	return ph.Finish(ctx, b.opts.SettleTimeout), log.result()
}

// moveEndpoint makes change seq: cluster seq mod 2, that cluster's
// services round robin. It returns how long the EndpointSlice write took.
func (b *bench) moveEndpoint(ctx context.Context, ph *xdsload.Phase, seq int) (time.Duration, error) {
	c := b.clusters[seq%2]
	s := c.services[(seq/2)%len(c.services)]
	s.write.Lock()
	defer s.write.Unlock()
	gen, moved := s.next()
	svc := s.svc
	if err := c.km.ApplyEndpointPod(ctx, svc, moved); err != nil {
		return 0, err
	}
	det := xdsload.DetectEndpointWhere(xdsload.OutboundCluster(svc.Port, "", svc.Host), s.since(gen))
	change := ph.Track(fmt.Sprintf("%s: %s endpoint to %s", c.name, svc.Host, moved.Address), det)
	start := time.Now()
	err := c.km.ApplyEndpointSlice(ctx, svc)
	took := time.Since(start)
	change.MarkApplied()
	if err != nil {
		return took, err
	}
	return took, c.km.DeleteStalePods(ctx, svc)
}

// waitUntil sleeps until t or until ctx ends.
func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
