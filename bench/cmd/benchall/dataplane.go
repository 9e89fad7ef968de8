package main

import (
	"context"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/dataplane"
)

// minDataplaneDuration is the shortest measured data-plane load the step
// accepts: one round of the data-plane benchmark's minimum length.
const minDataplaneDuration = 500 * time.Millisecond

// dataplaneRound is the length of one interleaved round: the measured
// duration is split into rounds of about this length. Many short rounds
// give the data-plane target many isthmus/static pairs measured seconds
// apart, and the median of their p90 ratios holds still on a shared
// machine where a p90 pooled over a few long rounds swings by tens of
// percent between two identical configurations.
const dataplaneRound = time.Second

// runDataplane measures the data-plane latency with Istio's method
// (1 KB bodies, 16 connections), over the configured duration, with the
// isthmus binary the run built.
func runDataplane(ctx context.Context, cfg config, w *workDir) (*dataplane.Report, error) {
	bin, err := w.isthmus()
	if err != nil {
		return nil, err
	}
	return dataplane.Run(ctx, dataplaneOptions(cfg, bin))
}

func dataplaneOptions(cfg config, bin string) dataplane.Options {
	return dataplane.Options{
		QPS:        cfg.DataplaneQPS,
		Duration:   cfg.DataplaneDuration,
		Warmup:     cfg.DataplaneWarmup,
		Rounds:     dataplaneRounds(cfg.DataplaneDuration),
		IsthmusBin: bin,
	}
}

// dataplaneRounds splits d into rounds of about dataplaneRound, at least
// one.
func dataplaneRounds(d time.Duration) int {
	return max(int(d/dataplaneRound), 1)
}

// dataplaneCommand is the hand-run equivalent of the step.
func dataplaneCommand(cfg config) string {
	return shellJoin([]string{"go", "run", "./bench/cmd/dataplane",
		"--duration", cfg.DataplaneDuration.String(), "--warmup", cfg.DataplaneWarmup.String(),
		"--rounds", itoa(dataplaneRounds(cfg.DataplaneDuration)), "--qps", itoa(cfg.DataplaneQPS)})
}
