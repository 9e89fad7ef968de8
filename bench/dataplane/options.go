package dataplane

import (
	"fmt"
	"slices"
	"time"
)

// Scenario names, in the order Run measures them by default.
const (
	ScenarioDirect  = "direct"
	ScenarioIsthmus = "isthmus"
	ScenarioStatic  = "static"
)

// AllScenarios lists every scenario in measuring order.
var AllScenarios = []string{ScenarioDirect, ScenarioIsthmus, ScenarioStatic}

// Load generator choices for Options.LoadGenerator.
const (
	LoadGenAuto      = "auto" // Nighthawk when nighthawk_client is on PATH, else Fortio
	LoadGenFortio    = "fortio"
	LoadGenNighthawk = "nighthawk"
)

// Options describes one benchmark run. The zero value of a field means its
// default (Istio's method, a 30 s measured run).
type Options struct {
	QPS          int           // target requests per second over all connections; default 1000
	Connections  int           // concurrent HTTP/1.1 connections; default 16
	PayloadBytes int           // request and response body size; default 1024
	Duration     time.Duration // measured load per scenario, over all rounds; default 30 s
	Warmup       time.Duration // unmeasured load before each scenario's first round; default 5 s
	Rounds       int           // Duration is measured in this many interleaved slices; default 5
	Scenarios    []string      // default AllScenarios

	LoadGenerator string // LoadGenAuto (default), LoadGenFortio or LoadGenNighthawk
	IsthmusBin    string // the isthmus binary; "" builds ./cmd/isthmus
	WorkDir       string // config and logs; "" makes a temporary directory
	KeepWorkDir   bool   // keep a temporary WorkDir after a successful run
}

// Default values of Options.
const (
	DefaultQPS          = 1000
	DefaultConnections  = 16
	DefaultPayloadBytes = 1024
	DefaultDuration     = 30 * time.Second
	DefaultWarmup       = 5 * time.Second
	DefaultRounds       = 5
)

// minRoundDuration is the shortest slice of load worth measuring.
const minRoundDuration = 500 * time.Millisecond

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	o.QPS = orDefault(o.QPS, DefaultQPS)
	o.Connections = orDefault(o.Connections, DefaultConnections)
	o.PayloadBytes = orDefault(o.PayloadBytes, DefaultPayloadBytes)
	o.Duration = orDefault(o.Duration, DefaultDuration)
	o.Warmup = orDefault(o.Warmup, DefaultWarmup)
	o.Rounds = orDefault(o.Rounds, DefaultRounds)
	if len(o.Scenarios) == 0 {
		o.Scenarios = AllScenarios
	}
	if o.LoadGenerator == "" {
		o.LoadGenerator = LoadGenAuto
	}
	return o
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validate rejects options no run can honour.
func (o Options) validate() error {
	switch {
	case o.QPS < 0 || o.Connections < 0 || o.PayloadBytes < 0:
		return fmt.Errorf("qps, connections and payload must not be negative")
	case o.Duration < 0 || o.Warmup < 0 || o.Rounds < 0:
		return fmt.Errorf("duration, warm-up and rounds must not be negative")
	case o.roundDuration() < minRoundDuration:
		return fmt.Errorf("%d rounds of %v are too short: each round needs %v", o.Rounds, o.Duration, minRoundDuration)
	case o.Connections > o.QPS && o.QPS > 0:
		return fmt.Errorf("%d connections cannot share %d requests per second", o.Connections, o.QPS)
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return fmt.Errorf("unknown scenario %q (want %v)", s, AllScenarios)
		}
	}
	switch o.LoadGenerator {
	case "", LoadGenAuto, LoadGenFortio, LoadGenNighthawk:
		return nil
	}
	return fmt.Errorf("unknown load generator %q (want %s, %s or %s)", o.LoadGenerator, LoadGenAuto, LoadGenFortio, LoadGenNighthawk)
}

// load is what the load generator is asked to send in one run.
type load struct {
	QPS          int
	Connections  int
	PayloadBytes int
	Duration     time.Duration
}

// roundDuration is the measured load of one scenario in one round.
func (o Options) roundDuration() time.Duration {
	if o.Rounds <= 0 {
		return o.Duration
	}
	return o.Duration / time.Duration(o.Rounds)
}

func (o Options) load(d time.Duration) load {
	return load{QPS: o.QPS, Connections: o.Connections, PayloadBytes: o.PayloadBytes, Duration: d}
}
