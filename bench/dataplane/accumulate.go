package dataplane

import (
	"fmt"
	"math"
	"time"
)

// accumulator gathers one scenario's rounds.
type accumulator struct {
	runs []run
	hops []HopCount
}

// add records one round: its run and the requests each hop saw.
func (a *accumulator) add(r run, hops []HopCount) {
	a.runs = append(a.runs, r)
	if a.hops == nil {
		a.hops = append([]HopCount(nil), hops...)
		return
	}
	for i := range a.hops {
		a.hops[i].Requests += hops[i].Requests
	}
}

// result merges the rounds into the scenario's result.
func (a *accumulator) result(name string) Result {
	m, from := mergeRuns(a.runs)
	return Result{Scenario: name, Description: descriptions[name], Measurement: m, Rounds: len(a.runs), RoundP90Ms: roundP90s(a.runs),
		PercentilesFrom: from, Hops: a.hops}
}

// roundP90s is each run's p90 in milliseconds, in measuring order.
func roundP90s(runs []run) []float64 {
	out := make([]float64, 0, len(runs))
	for _, r := range runs {
		out = append(out, ms(r.Latency.P90))
	}
	return out
}

// mergeRuns adds up requests and errors, computes the rate over the time
// the runs took, and the percentiles over every request's latency when
// each run recorded them, or else as the mean of the runs' percentiles
// weighted by their requests. from says which.
func mergeRuns(runs []run) (m Measurement, from string) {
	var seconds float64
	var samples []time.Duration
	exact := true
	for _, r := range runs {
		m.Requests += r.Requests
		m.Errors += r.Errors
		if r.QPS > 0 {
			seconds += float64(r.Requests) / r.QPS
		}
		exact = exact && r.samples != nil
		samples = append(samples, r.samples...)
	}
	if seconds > 0 {
		m.QPS = float64(m.Requests) / seconds
	}
	if exact {
		m.Latency = percentilesOf(samples)
		return m, "every request"
	}
	m.Latency = weightedPercentiles(runs)
	return m, fmt.Sprintf("mean of %d rounds' percentiles, weighted by requests", len(runs))
}

func weightedPercentiles(runs []run) Percentiles {
	var total float64
	var sum [4]float64
	for _, r := range runs {
		w := float64(r.Requests)
		total += w
		for i, d := range []time.Duration{r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999} {
			sum[i] += w * float64(d)
		}
	}
	if total == 0 {
		return Percentiles{}
	}
	avg := func(i int) time.Duration { return time.Duration(math.Round(sum[i] / total)) }
	return Percentiles{P50: avg(0), P90: avg(1), P99: avg(2), P999: avg(3)}
}
