package dataplane

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// loadGenerator sends a fixed-rate HTTP load to a target and measures it.
type loadGenerator interface {
	// Name says which tool and version measured, for the report.
	Name() string
	// Run sends l to t and returns what it measured. Requests that got no
	// 2xx answer are errors, not a failure of Run.
	Run(ctx context.Context, t target, l load) (run, error)
}

// run is one load generator run: its measurement and, when the tool
// gives them, every request's latency (so runs can be merged exactly).
type run struct {
	Measurement
	samples []time.Duration
}

// Measurement is what one measured run observed.
type Measurement struct {
	Requests int64       `json:"requests"` // requests completed (answered or failed)
	Errors   int64       `json:"errors"`   // requests without a 2xx answer
	QPS      float64     `json:"qps"`      // requests completed per second
	Latency  Percentiles `json:"latencyMs"`
}

// Percentiles of request-to-response latency.
type Percentiles struct {
	P50  time.Duration
	P90  time.Duration
	P99  time.Duration
	P999 time.Duration
}

// chooseLoadGenerator picks the tool Options.LoadGenerator names.
func chooseLoadGenerator(name string) (loadGenerator, error) {
	switch name {
	case LoadGenFortio:
		return newFortio(), nil
	case LoadGenNighthawk:
		bin, err := exec.LookPath(nighthawkCommand)
		if err != nil {
			return nil, fmt.Errorf("load generator nighthawk: %w", err)
		}
		return newNighthawk(bin), nil
	}
	if bin, err := exec.LookPath(nighthawkCommand); err == nil {
		return newNighthawk(bin), nil
	}
	return newFortio(), nil
}
