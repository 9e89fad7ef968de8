package dataplane

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// percentilesOf computes the percentiles of samples by nearest rank: the
// smallest sample at or below which the given share of samples falls. The
// samples are sorted in place.
func percentilesOf(samples []time.Duration) Percentiles {
	slices.Sort(samples)
	return Percentiles{
		P50:  nearestRank(samples, 50),
		P90:  nearestRank(samples, 90),
		P99:  nearestRank(samples, 99),
		P999: nearestRank(samples, 99.9),
	}
}

// nearestRank returns the p-th percentile of sorted samples, 0 for none.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The small subtraction keeps float error (99.9/100*1000 is just above
	// 999) from moving the rank up by one.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// percentilesJSON is how Percentiles appear in the JSON report: in
// milliseconds.
type percentilesJSON struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
}

// MarshalJSON writes the percentiles in milliseconds.
func (p Percentiles) MarshalJSON() ([]byte, error) {
	return json.Marshal(percentilesJSON{P50: ms(p.P50), P90: ms(p.P90), P99: ms(p.P99), P999: ms(p.P999)})
}

// UnmarshalJSON reads percentiles written by MarshalJSON.
func (p *Percentiles) UnmarshalJSON(data []byte) error {
	var v percentilesJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*p = Percentiles{P50: fromMs(v.P50), P90: fromMs(v.P90), P99: fromMs(v.P99), P999: fromMs(v.P999)}
	return nil
}

// ms is d in milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

func fromMs(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }
