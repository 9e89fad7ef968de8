package consulbench

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// Writes describe the churn's Consul writes.
type Writes struct {
	Requested float64 `json:"requestedPerSecond"`
	Made      int     `json:"made"`
	Failed    int     `json:"failed"`
	// FirstError is the first failed write's error.
	FirstError string  `json:"firstError,omitempty"`
	Achieved   float64 `json:"achievedPerSecond"`
	// Write is how long the measured registration took to return.
	Write xdsload.Percentiles `json:"writeLatency"`
}

// churn moves instances at opts.Churn per second for opts.Duration, the
// services round robin, at most opts.Writers in flight.
func (b *bench) churn(ctx context.Context) (xdsload.ScenarioResult, Writes) {
	ph := b.fleet.StartPhase(PhaseInstanceChurn)
	w := Writes{Requested: b.opts.Churn}
	var mu sync.Mutex
	var took []time.Duration
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range b.opts.Writers {
		wg.Go(func() {
			for seq := range jobs {
				d, err := b.move(ph, seq)
				mu.Lock()
				w.Made++
				if err != nil {
					w.Failed++
					w.FirstError = cmp.Or(w.FirstError, err.Error())
				} else {
					took = append(took, d)
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / b.opts.Churn)
	for seq := 0; ctx.Err() == nil; seq++ {
		at := start.Add(time.Duration(seq) * interval)
		if at.Sub(start) >= b.opts.Duration {
			break
		}
		time.Sleep(time.Until(at))
		jobs <- seq
	}
	close(jobs)
	wg.Wait()
	w.Achieved = float64(w.Made) / time.Since(start).Seconds()
	w.Write = xdsload.PercentilesOf(took)
	return ph.Finish(ctx, b.opts.SettleTimeout), w
}

// move makes change seq: service seq mod Services moves its last instance
// to a new address. It returns how long the registration took.
func (b *bench) move(ph *xdsload.Phase, seq int) (time.Duration, error) {
	i := seq % b.opts.Services
	m := b.moves[i]
	m.write.Lock() // one move of a service at a time, in order
	defer m.write.Unlock()
	m.mu.Lock()
	m.gen++
	gen, address := m.gen, movedAddress(i, m.gen)
	m.at[address] = gen
	m.mu.Unlock()
	det := xdsload.DetectEndpointWhere(xdsload.OutboundCluster(servicePort, "", ServiceHost(i)), m.since(gen))
	change := ph.Track(fmt.Sprintf("%s: last instance to %s", ServiceHost(i), address), det)
	start := time.Now()
	err := b.registerInstance(i, b.opts.Instances-1, address)
	d := time.Since(start)
	change.MarkApplied()
	return d, err
}

// since reports whether address is where generation gen, or a later one,
// put the moving instance.
func (m *moves) since(gen int) func(address string) bool {
	return func(address string) bool {
		m.mu.Lock()
		g, ok := m.at[address]
		m.mu.Unlock()
		return ok && g >= gen
	}
}
