package dataplane

import (
	"context"
	"fmt"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// target is where the load generator sends its requests.
type target struct {
	URL  string // "http://127.x.y.z:PORT/"
	Host string // the Host header; "" keeps the URL's
}

// hop is one Envoy counter that grows by one for each request crossing a
// point of a scenario's path.
type hop struct {
	name  string // what the point is, e.g. "client sidecar listener"
	envoy *localmesh.Envoy
	stat  string // e.g. "http.outbound_127.1.2.3_9080.downstream_rq_total"
}

// path is a scenario set up and ready for load: where to send it, the hops
// it must cross, and how to tear it down.
type path struct {
	target target
	hops   []hop
	envoys []*localmesh.Envoy
	close  func()
}

// HopCount is how many requests one point of a scenario's path saw during
// the measured run.
type HopCount struct {
	Name     string `json:"name"`
	Stat     string `json:"stat"` // the Envoy counter, or "" for the application
	Requests int64  `json:"requests"`
}

// hopReading is the value of every hop counter at one moment, the
// application's answered count last.
type hopReading []uint64

// readHops reads each hop's counter, then the application's count.
func (p *path) readHops(ctx context.Context, a *app) (hopReading, error) {
	out := make(hopReading, 0, len(p.hops)+1)
	for _, h := range p.hops {
		stats, err := h.envoy.Stats(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.name, err)
		}
		out = append(out, stats[h.stat])
	}
	return append(out, uint64(a.answered.Load())), nil
}

// hopCounts turns two readings into the requests each point saw between
// them.
func (p *path) hopCounts(before, after hopReading) []HopCount {
	out := make([]HopCount, 0, len(after))
	for i, h := range p.hops {
		out = append(out, HopCount{Name: h.name, Stat: h.stat, Requests: int64(after[i]) - int64(before[i])})
	}
	last := len(after) - 1
	return append(out, HopCount{Name: "application", Requests: int64(after[last]) - int64(before[last])})
}

// checkRunning fails if an Envoy of the path has exited.
func (p *path) checkRunning() error {
	for _, e := range p.envoys {
		if err := e.Running(); err != nil {
			return err
		}
	}
	return nil
}
