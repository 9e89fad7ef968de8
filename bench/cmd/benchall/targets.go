package main

import (
	"fmt"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/dataplane"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// Issue 3's scales: the sidecar counts its xDS targets are set at.
const (
	targetScaleStorm = 5000
	targetScaleLarge = 10000
)

// targetCheck is one of issue 3's targets against what this run measured.
type targetCheck struct {
	Target   string // what the issue asks, with its scale
	Measured string // the figure, and where it comes from
	Verdict  string
}

// verdictAt words a verdict for a figure measured with proxies sidecars
// against a target set at scale: a met target at a smaller scale is not
// the target met, a missed one is missed already.
func verdictAt(ok bool, proxies, scale int) string {
	switch {
	case ok && proxies >= scale:
		return "**met**"
	case ok:
		return fmt.Sprintf("met at %s sidecars, not the %s-sidecar target", grouped(int64(proxies)), grouped(int64(scale)))
	case proxies < scale:
		return fmt.Sprintf("**missed**, already at %s sidecars", grouped(int64(proxies)))
	}
	return "**missed**"
}

// xdsTargets checks one protocol's xdsload report against issue 3's
// control-plane targets.
func xdsTargets(r *xdsload.Report) []targetCheck {
	storm, mesh, churn := scenario(r, xdsload.ScenarioConnectStorm), scenario(r, xdsload.ScenarioMeshWideChange), scenario(r, xdsload.ScenarioEndpointChurn)
	return []targetCheck{
		latencyTarget("5,000 sidecars: p99 time until a sidecar has its full config ≤ 1 s (istiod: 11.4 s)", storm, time.Second, r.Proxies, targetScaleStorm),
		latencyTarget("5,000 sidecars: mesh-wide change (PeerAuthentication in istio-system) p99 ≤ 3 s (istiod: 10.7 s)", mesh, 3*time.Second, r.Proxies, targetScaleStorm),
		cpuTarget(storm, mesh, r.Proxies),
		rssTarget("5,000 sidecars: control plane peak RSS ≤ 500 MiB (istiod: 4.4 GB)", r, 500<<20, targetScaleStorm),
		fullConfigWithinTarget(storm, r.Proxies),
		latencyTarget("10,000 sidecars: an endpoint change reaches its sidecars with p99 < 1 s", churn, time.Second, r.Proxies, targetScaleLarge),
		rssTarget("10,000 sidecars: control plane peak RSS < 1 GiB", r, 1<<30, targetScaleLarge),
	}
}

func scenario(r *xdsload.Report, name string) *xdsload.ScenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// latencyTarget checks a scenario's p99 against limit; a scenario where
// some sidecar never saw the change misses it whatever the percentiles.
func latencyTarget(target string, s *xdsload.ScenarioResult, limit time.Duration, proxies, scale int) targetCheck {
	c := targetCheck{Target: target}
	if problem := incomplete(s); problem != "" {
		c.Measured, c.Verdict = problem, "**missed**"
		return c
	}
	p99 := time.Duration(s.Latency.P99 * float64(time.Millisecond))
	c.Measured = "p99 " + fmtDuration(p99)
	c.Verdict = verdictAt(p99 <= limit, proxies, scale)
	return c
}

// incomplete says why a scenario's figures cannot meet a target: it did
// not run, failed, or some sidecar never saw what it waited for.
func incomplete(s *xdsload.ScenarioResult) string {
	switch {
	case s == nil:
		return "not run"
	case s.Error != "":
		return "failed: " + s.Error
	case s.Affected == 0:
		return "no sidecar concerned"
	case s.Observed == 0:
		return fmt.Sprintf("no sidecar's configuration changed within the settle timeout (0 of %d updates seen)", s.Affected)
	case s.Missed > 0:
		return fmt.Sprintf("%d of %d sidecar updates not seen within the timeout", s.Missed, s.Affected)
	}
	return ""
}

// cpuTarget checks the control plane's CPU for a cold start and one
// mesh-wide change: the connect storm's CPU plus the mesh-wide scenario's
// CPU per change.
func cpuTarget(storm, mesh *xdsload.ScenarioResult, proxies int) targetCheck {
	c := targetCheck{Target: "5,000 sidecars: cold start plus one mesh-wide change ≤ 6 CPU-seconds (istiod: 25.5)"}
	if storm == nil || storm.CPUSeconds == nil || mesh == nil || mesh.CPUSeconds == nil || mesh.Changes == 0 {
		c.Measured, c.Verdict = "control plane CPU not measured", "not measured"
		return c
	}
	perChange := *mesh.CPUSeconds / float64(mesh.Changes)
	total := *storm.CPUSeconds + perChange
	c.Measured = fmt.Sprintf("%.2f CPU-s (connect storm %.2f + one mesh-wide change %.2f)", total, *storm.CPUSeconds, perChange)
	c.Verdict = verdictAt(total <= 6, proxies, targetScaleStorm)
	return c
}

// rssTarget checks the control plane's peak RSS over the whole run (every
// scenario, so at least what the target's load needs).
func rssTarget(target string, r *xdsload.Report, limit int64, scale int) targetCheck {
	c := targetCheck{Target: target}
	if r.ControlPlane == nil || r.ControlPlane.PeakRSSBytes == 0 {
		c.Measured, c.Verdict = "control plane memory not measured", "not measured"
		return c
	}
	peak := r.ControlPlane.PeakRSSBytes
	c.Measured = fmtBytes(float64(peak)) + " over every scenario"
	c.Verdict = verdictAt(peak <= limit, r.Proxies, scale)
	return c
}

// fullConfigWithinTarget checks that every sidecar had its full config
// within 30 s of the first connect: the connect storm's duration.
func fullConfigWithinTarget(storm *xdsload.ScenarioResult, proxies int) targetCheck {
	c := targetCheck{Target: "10,000 sidecars: every sidecar has its full config within 30 s of the first connect"}
	if problem := incomplete(storm); problem != "" {
		c.Measured, c.Verdict = problem, "**missed**"
		return c
	}
	c.Measured = "all within " + fmtDuration(storm.Duration)
	c.Verdict = verdictAt(storm.Duration <= 30*time.Second, proxies, targetScaleLarge)
	return c
}

// dataplaneTarget checks the sidecars' p90 against the hand-written
// configuration's.
func dataplaneTarget(r *dataplane.Report) targetCheck {
	c := targetCheck{Target: "two Isthmus sidecars' p90 within 10% of the hand-written static config's p90"}
	t := r.Target
	if t == nil {
		c.Measured, c.Verdict = "not measured (the isthmus or static scenario did not run)", "not measured"
		return c
	}
	c.Measured = fmt.Sprintf("%s (%v measured per scenario)", t.Figures(), time.Duration(r.Settings.DurationS*float64(time.Second)))
	c.Verdict = "**missed**"
	if t.Met {
		c.Verdict = "**met**"
	}
	return c
}
