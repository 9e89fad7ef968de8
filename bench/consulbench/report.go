package consulbench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// Report is what a run measured, written as JSON.
type Report struct {
	Started   time.Time       `json:"started"`
	Machine   xdsload.Machine `json:"machine"`
	LoadStart string          `json:"loadAverageStart"`
	LoadEnd   string          `json:"loadAverageEnd"`
	Services  int             `json:"services"`
	Instances int             `json:"instancesPerService"`
	Proxies   int             `json:"proxies"`
	Delta     bool            `json:"delta"`
	Setup     Setup           `json:"setup"`
	// Churn is the sidecars' view of the instance moves; Writes the
	// Consul writes that made them.
	Churn              xdsload.ScenarioResult `json:"churn"`
	Writes             Writes                 `json:"writes"`
	ConsulCPUSeconds   float64                `json:"consulCPUSeconds"`
	ConsulPeakRSSBytes int64                  `json:"consulPeakRSSBytes"`
	IsthmusLog         string                 `json:"isthmusLog"`
	// Load is the simulated sidecars' report: the connect storm, the churn,
	// Isthmus's cost and metrics per phase.
	Load *xdsload.Report `json:"load"`
}

// Setup times the steps before the sidecars connect.
type Setup struct {
	Consul   time.Duration `json:"consulNs"`
	Register time.Duration `json:"registerNs"`
	Isthmus  time.Duration `json:"isthmusNs"`
}

// WriteMarkdown writes a header, the table of the figures, then
// the sidecars' own report.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	protocol := "state-of-the-world"
	if r.Delta {
		protocol = "delta"
	}
	fmt.Fprintf(&b, "A real Consul agent (v1.16.3, dev mode, loopback) with %d services × %d instances; isthmus serve --consul on it; "+
		"%d simulated sidecars over %s xDS, each holding every Consul service.\n\n", r.Services, r.Instances, r.Proxies, protocol)
	fmt.Fprintf(&b, "Setup: Consul started in %.1f s, services registered in %.1f s, isthmus ready in %.1f s.\n\n",
		r.Setup.Consul.Seconds(), r.Setup.Register.Seconds(), r.Setup.Isthmus.Seconds())
	b.WriteString("| phase | writes | asked/s | made/s | Consul write p50 / p99 | sidecar updates seen | missed | p50 | p90 | p99 | max | Isthmus CPU s | Isthmus cores | Isthmus peak RSS | Consul CPU s |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	if r.Load != nil && len(r.Load.Scenarios) > 0 {
		storm := r.Load.Scenarios[0]
		fmt.Fprintf(&b, "| %s (time to full config) | – | – | – | – | %s | %s | %s | – |\n",
			storm.Name, xdsload.SeenCells(storm), xdsload.LatencyCells(storm), xdsload.CostCells(storm))
	}
	wr := r.Writes
	fmt.Fprintf(&b, "| %s | %d (%d failed) | %g | %.1f | %s / %s | %s | %s | %s | %.2f |\n",
		r.Churn.Name, wr.Made, wr.Failed, wr.Requested, wr.Achieved, xdsload.FormatMs(wr.Write.P50), xdsload.FormatMs(wr.Write.P99),
		xdsload.SeenCells(r.Churn), xdsload.LatencyCells(r.Churn), xdsload.CostCells(r.Churn), r.ConsulCPUSeconds)
	b.WriteString("\nLatencies run from the Consul registration returning to the sidecar's ACK of the first EDS response " +
		"showing the moved instance, for every sidecar (each holds every service).\n")
	if r.Load != nil && r.Load.ControlPlane != nil {
		cp := r.Load.ControlPlane
		fmt.Fprintf(&b, "Isthmus (pid %d): peak RSS %s since it started (VmHWM), %.2f CPU-seconds over the phases. ",
			cp.PID, xdsload.FormatBytes(cp.PeakRSSBytes), cp.CPUSeconds)
	}
	fmt.Fprintf(&b, "Consul agent: peak RSS %s.\n", xdsload.FormatBytes(r.ConsulPeakRSSBytes))
	if wr.FirstError != "" {
		fmt.Fprintf(&b, "\nFirst failed write: %s\n", wr.FirstError)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if r.Load == nil {
		return nil
	}
	if _, err := io.WriteString(w, "\nThe sidecars' report:\n\n"); err != nil {
		return err
	}
	return r.Load.WriteMarkdown(w)
}

// consulMeter reads the agent's CPU seconds between laps.
type consulMeter struct {
	pid  int
	last float64
}

func newConsulMeter(pid int) *consulMeter {
	m := &consulMeter{pid: pid}
	m.last, _ = xdsload.ProcessCPUSeconds(pid)
	return m
}

// lap is the CPU seconds since the last lap.
func (m *consulMeter) lap() float64 {
	now, err := xdsload.ProcessCPUSeconds(m.pid)
	if err != nil {
		return 0
	}
	d := now - m.last
	m.last = now
	return d
}
