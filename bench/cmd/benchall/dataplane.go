package main

import (
	"context"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/dataplane"
)

// minDataplaneDuration is the shortest measured data-plane load the step
// accepts: one round of the data-plane benchmark's minimum length.
const minDataplaneDuration = 500 * time.Millisecond

// dataplaneRound is the length of one interleaved round the step aims for:
// the measured duration is split into up to dataplane.DefaultRounds rounds
// of about this length, so that a short run still interleaves.
const dataplaneRound = 2 * time.Second

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
// one and at most the data-plane benchmark's default.
func dataplaneRounds(d time.Duration) int {
	return min(max(int(d/dataplaneRound), 1), dataplane.DefaultRounds)
}

// dataplaneCommand is the hand-run equivalent of the step.
func dataplaneCommand(cfg config) string {
	return shellJoin([]string{"go", "run", "./bench/cmd/dataplane",
		"--duration", cfg.DataplaneDuration.String(), "--warmup", cfg.DataplaneWarmup.String(),
		"--rounds", itoa(dataplaneRounds(cfg.DataplaneDuration)), "--qps", itoa(cfg.DataplaneQPS)})
}
