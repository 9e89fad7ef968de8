package main

import (
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func report(proxies int, stormP99Ms float64, meshMissed int) *xdsload.Report {
	cpu, rss := 1.5, int64(200<<20)
	return &xdsload.Report{
		Protocol: "sotw", Proxies: proxies,
		ControlPlane: &xdsload.ControlPlane{PeakRSSBytes: rss},
		Scenarios: []xdsload.ScenarioResult{
			{Name: xdsload.ScenarioConnectStorm, Affected: proxies, Observed: proxies, Latency: xdsload.Percentiles{P99: stormP99Ms}, CPUSeconds: &cpu},
			{Name: xdsload.ScenarioMeshWideChange, Changes: 1, Affected: proxies, Observed: proxies - meshMissed, Missed: meshMissed, Latency: xdsload.Percentiles{P99: 500}, CPUSeconds: &cpu},
		},
	}
}

func TestASmallRunDoesNotMeetALargeTarget(t *testing.T) {
	got := xdsTargets(report(500, 400, 0))[0]
	if !contains(got.Verdict, "not the 5,000-sidecar target") || contains(got.Verdict, "**met**") {
		t.Errorf("500-sidecar storm within the limit: verdict %q", got.Verdict)
	}
	if got := xdsTargets(report(5000, 400, 0))[0]; got.Verdict != "**met**" {
		t.Errorf("5,000-sidecar storm within the limit: verdict %q", got.Verdict)
	}
	if got := xdsTargets(report(500, 1400, 0))[0]; !contains(got.Verdict, "**missed**") {
		t.Errorf("storm over the limit: verdict %q", got.Verdict)
	}
}

func TestAChangeSomeSidecarsNeverSawMissesItsTarget(t *testing.T) {
	got := xdsTargets(report(5000, 400, 12))[1]
	if got.Verdict != "**missed**" || !contains(got.Measured, "12 of 5000") {
		t.Errorf("mesh-wide change with 12 sidecars missing: %+v", got)
	}
}

func TestAChangeNoSidecarSawSaysSo(t *testing.T) {
	got := xdsTargets(report(500, 400, 500))[1]
	if got.Verdict != "**missed**" || !contains(got.Measured, "no sidecar's configuration changed") {
		t.Errorf("mesh-wide change no sidecar saw: %+v", got)
	}
}

func TestCPUTargetAddsOneMeshWideChange(t *testing.T) {
	got := xdsTargets(report(5000, 400, 0))[2]
	if !contains(got.Measured, "3.00 CPU-s") || got.Verdict != "**met**" {
		t.Errorf("cpu target = %+v", got)
	}
}
