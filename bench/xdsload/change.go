package xdsload

import (
	"sync"
	"sync/atomic"
	"time"
)

// Change is one configuration change a scenario made, and what the proxies
// it concerns observed of it.
type Change struct {
	Scenario string
	Seq      int
	Desc     string

	at        atomic.Int64 // unix nanoseconds of the change; set just before it is applied
	mu        sync.Mutex
	affected  int
	latencies []time.Duration
}

// markApplied records now as the moment of the change.
func (c *Change) markApplied() { c.at.Store(time.Now().UnixNano()) }

// At is the moment the change was applied.
func (c *Change) At() time.Time { return time.Unix(0, c.at.Load()) }

func (c *Change) addAffected() {
	c.mu.Lock()
	c.affected++
	c.mu.Unlock()
}

func (c *Change) observe(ackAt time.Time) {
	d := ackAt.Sub(c.At())
	c.mu.Lock()
	c.latencies = append(c.latencies, d)
	c.mu.Unlock()
}

// Outcome returns how many proxies the change concerned and, for those that
// saw it, the time from the change to their ACK of it.
func (c *Change) Outcome() (affected int, latencies []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.affected, append([]time.Duration(nil), c.latencies...)
}

// Detector tells, for one proxy, whether a change concerns it and when its
// configuration shows the change.
type Detector struct {
	// Types lists the types whose updates can reveal the change; empty
	// means any type.
	Types []string
	// Start is called once per proxy with its configuration when the change
	// is made. It returns nil when the change does not concern the proxy,
	// else the test that the proxy's configuration shows the change.
	Start func(before configState) (visible func(after configState) bool)
}

func (d *Detector) watches(typeURL string) bool {
	if len(d.Types) == 0 {
		return true
	}
	for _, t := range d.Types {
		if t == typeURL {
			return true
		}
	}
	return false
}

// watcher is one pending change at one proxy.
type watcher struct {
	change   *Change
	detector *Detector
	visible  func(configState) bool
}
