package dataplane

import (
	"fmt"
	"math"
	"slices"
)

// targetExcess is the data-plane target: the Isthmus scenario's p90 at most
// this much above the static scenario's.
const targetExcess = 0.10

// TargetCheck compares the Isthmus scenario's p90 with the static one's.
//
// The verdict rests on the rounds: round i of the two scenarios ran within
// one rotation, seconds apart, so their p90 ratio sees the same background
// load. The median of those ratios ignores the few rounds a busy spell of a
// shared machine hits, which move a p90 pooled over all rounds by tens of
// percent between two identical configurations. The pooled figures are
// kept alongside.
type TargetCheck struct {
	Goal         string  `json:"goal"`
	IsthmusP90Ms float64 `json:"isthmusP90Ms"` // over every measured request of the scenario
	StaticP90Ms  float64 `json:"staticP90Ms"`
	// ExcessPercent is the figure judged against the goal: the median over
	// the paired rounds of how much higher Isthmus's p90 was than the static
	// one's in the same round, in percent (negative: lower); without paired
	// rounds, PooledExcessPercent.
	ExcessPercent float64 `json:"excessPercent"`
	PairedRounds  int     `json:"pairedRounds"`
	// ExcessQ1Percent and ExcessQ3Percent bound the middle half of the
	// per-round excesses: the spread of ExcessPercent.
	ExcessQ1Percent     float64 `json:"excessQ1Percent"`
	ExcessQ3Percent     float64 `json:"excessQ3Percent"`
	PooledExcessPercent float64 `json:"pooledExcessPercent"` // from IsthmusP90Ms and StaticP90Ms
	Met                 bool    `json:"met"`
}

// checkTarget compares the isthmus and static results; nil unless both ran.
func checkTarget(results []Result) *TargetCheck {
	isthmus, static := findResult(results, ScenarioIsthmus), findResult(results, ScenarioStatic)
	if isthmus == nil || static == nil || static.Latency.P90 <= 0 {
		return nil
	}
	pooled := float64(isthmus.Latency.P90)/float64(static.Latency.P90) - 1
	t := &TargetCheck{
		Goal:                fmt.Sprintf("isthmus p90 within %.0f%% of static p90", targetExcess*100),
		IsthmusP90Ms:        ms(isthmus.Latency.P90),
		StaticP90Ms:         ms(static.Latency.P90),
		PooledExcessPercent: percent(pooled),
	}
	excess := pooled
	if rounds := roundExcesses(isthmus.RoundP90Ms, static.RoundP90Ms); len(rounds) > 0 {
		excess = quantile(rounds, 0.5)
		t.PairedRounds = len(rounds)
		t.ExcessQ1Percent, t.ExcessQ3Percent = percent(quantile(rounds, 0.25)), percent(quantile(rounds, 0.75))
	}
	t.ExcessPercent = percent(excess)
	t.Met = excess <= targetExcess
	return t
}

func findResult(results []Result, scenario string) *Result {
	for i := range results {
		if results[i].Scenario == scenario {
			return &results[i]
		}
	}
	return nil
}

// roundExcesses is, for each round both scenarios measured, how much
// higher the isthmus p90 was than the static one (0.05 for 5 %), sorted.
func roundExcesses(isthmus, static []float64) []float64 {
	var out []float64
	for i := range min(len(isthmus), len(static)) {
		if static[i] > 0 {
			out = append(out, isthmus[i]/static[i]-1)
		}
	}
	slices.Sort(out)
	return out
}

// quantile interpolates the q-quantile (0..1) of sorted, non-empty values.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// percent turns a fraction into percent, to one decimal.
func percent(fraction float64) float64 { return math.Round(fraction*1000) / 10 }

// Figures states the verdict figure, its spread and the pooled figures,
// e.g. "isthmus p90 +2.1% over static (median of 20 paired rounds, middle
// half -3.0% to +6.2%); pooled over every request isthmus p90 1.310 ms vs
// static 1.283 ms, +2.1%".
func (t *TargetCheck) Figures() string {
	pooled := fmt.Sprintf("isthmus p90 %.3f ms vs static %.3f ms", t.IsthmusP90Ms, t.StaticP90Ms)
	if t.PairedRounds == 0 {
		return fmt.Sprintf("%s, %+.1f%%", pooled, t.ExcessPercent)
	}
	return fmt.Sprintf("isthmus p90 %+.1f%% over static (median of %d paired rounds, middle half %+.1f%% to %+.1f%%); pooled over every request %s, %+.1f%%",
		t.ExcessPercent, t.PairedRounds, t.ExcessQ1Percent, t.ExcessQ3Percent, pooled, t.PooledExcessPercent)
}

// Verdict is "met" or "missed".
func (t *TargetCheck) Verdict() string {
	if t.Met {
		return "met"
	}
	return "missed"
}
