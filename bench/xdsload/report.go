package xdsload

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

// Report is the outcome of one run, written as JSON.
type Report struct {
	Started      time.Time     `json:"started"`
	Target       string        `json:"target"`
	Protocol     string        `json:"protocol"` // "sotw" or "delta"
	Proxies      int           `json:"proxies"`
	Mesh         meshgen.Spec  `json:"mesh"`
	Machine      Machine       `json:"machine"`
	ControlPlane *ControlPlane `json:"controlPlane,omitempty"`
	// LoadGenerator is this process's own cost: on a small machine it
	// competes with the control plane for CPU.
	LoadGenerator *ControlPlane `json:"loadGenerator,omitempty"`
	// TLS is set when proxies connected over TLS with client certificates.
	TLS       *TLSReport       `json:"tls,omitempty"`
	Scenarios []ScenarioResult `json:"scenarios"`
	NACKs     []NACK           `json:"nacks,omitempty"` // the first few
	PerProxy  []ProxyResult    `json:"perProxy,omitempty"`
	Profiles  []string         `json:"profiles,omitempty"`
	Notes     []string         `json:"notes,omitempty"`
}

// ControlPlane identifies the measured control plane process.
type ControlPlane struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
	// PeakRSSBytes is the process's VmHWM at the end of the run: its peak
	// since it started.
	PeakRSSBytes int64   `json:"peakRSSBytes"`
	CPUSeconds   float64 `json:"cpuSeconds"` // during the whole run
}

// ScenarioResult is what one scenario measured. For the connect storm the
// latencies are each proxy's time from connecting to its full config; for
// a change scenario, each (change, concerned proxy)'s time from the change
// to the ACK of the first version containing it.
type ScenarioResult struct {
	Name        string        `json:"name"`
	Changes     int           `json:"changes,omitempty"`
	Affected    int           `json:"affected"` // proxies (storm) or proxy-changes concerned
	Observed    int           `json:"observed"`
	Missed      int           `json:"missed"` // concerned but not seen before the timeout
	Latency     Percentiles   `json:"latency"`
	Duration    time.Duration `json:"durationNs"`
	Bytes       int64         `json:"bytesReceived"`
	Responses   int64         `json:"responsesReceived"`
	NACKs       int64         `json:"nacks"`
	Disconnects int64         `json:"disconnects"`
	// Cost of the control plane during the scenario, when it is measured.
	CPUSeconds   *float64 `json:"cpuSeconds,omitempty"`
	PeakRSSBytes *int64   `json:"peakRSSBytes,omitempty"`
	// Metrics is what the control plane's own metrics did during the
	// scenario, when they are read (Options.MetricsURL).
	Metrics []Metric `json:"metrics,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Percentiles summarise latencies, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// ProxyResult is one proxy's outcome, reported with --per-proxy.
type ProxyResult struct {
	Node         string  `json:"node"`
	ConfiguredMs float64 `json:"configuredMs"` // -1: never fully configured
	Bytes        int64   `json:"bytesReceived"`
	Responses    int64   `json:"responsesReceived"`
	NACKs        int64   `json:"nacks"`
	Disconnects  int64   `json:"disconnects"`
	LastError    string  `json:"lastError,omitempty"`
}

// PercentilesOf summarises latencies as a report does (nearest rank).
func PercentilesOf(ds []time.Duration) Percentiles { return percentiles(ds) }

// percentiles computes nearest-rank percentiles.
func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(sorted)))) - 1
		return ms(sorted[max(i, 0)])
	}
	return Percentiles{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: ms(sorted[len(sorted)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// WriteMarkdown writes the report as a Markdown table with a header line.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s proxies → %s; mesh: %d services in %d namespaces, %d endpoints each\n\n",
		r.Proxies, r.Protocol, r.Target, r.Mesh.Services, r.Mesh.Namespaces, r.Mesh.EndpointsPerService)
	if t := r.TLS; t != nil {
		fmt.Fprintf(&b, "Over TLS to %s with client certificates: %d identities, issued by the load generator in %.3f s before the storm.\n\n",
			t.ServerName, t.Identities, t.IssueSeconds)
	}
	b.WriteString("| scenario | changes | proxy updates seen | missed | p50 | p90 | p99 | max | NACKs | received | responses | CP CPU s | CP peak RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "| %s | %s | %d/%d | %d | %s | %d | %s | %d | %s | %s |\n",
			s.Name, fmtChanges(s.Changes), s.Observed, s.Affected, s.Missed, LatencyCells(s),
			s.NACKs, FormatBytes(s.Bytes), s.Responses, fmtCPU(s.CPUSeconds), fmtRSS(s.PeakRSSBytes))
	}
	if cp := r.ControlPlane; cp != nil {
		fmt.Fprintf(&b, "\nControl plane %s (pid %d): %.2f CPU-seconds over the run, peak RSS %s.\n",
			cp.Name, cp.PID, cp.CPUSeconds, FormatBytes(cp.PeakRSSBytes))
	}
	if lg := r.LoadGenerator; lg != nil {
		fmt.Fprintf(&b, "Load generator (pid %d): %.2f CPU-seconds, peak RSS %s.\n",
			lg.PID, lg.CPUSeconds, FormatBytes(lg.PeakRSSBytes))
	}
	writeMetricsTable(&b, r.Scenarios)
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(&b, "\n%s: %s\n", s.Name, s.Error)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// LatencyCells are the Markdown cells p50 | p90 | p99 | max of s, dashes
// when no proxy saw anything.
func LatencyCells(s ScenarioResult) string {
	if s.Observed == 0 {
		return "– | – | – | –"
	}
	l := s.Latency
	return strings.Join([]string{FormatMs(l.P50), FormatMs(l.P90), FormatMs(l.P99), FormatMs(l.Max)}, " | ")
}

// Step is one timed setup step of a benchmark: Do, its wall time stored
// into Took.
type Step struct {
	Name string
	Took *time.Duration
	Do   func(context.Context) error
}

// RunSteps runs steps in order, telling progress of each start and
// duration; the first failure ends it, named by its step.
func RunSteps(ctx context.Context, progress func(format string, args ...any), steps []Step) error {
	for _, s := range steps {
		progress("%s…", s.Name)
		start := time.Now()
		if err := s.Do(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		*s.Took = time.Since(start)
		progress("%s: %s", s.Name, s.Took.Round(time.Millisecond))
	}
	return nil
}

// SeenCells are the Markdown cells observed/affected | missed of s.
func SeenCells(s ScenarioResult) string {
	return fmt.Sprintf("%d/%d | %d", s.Observed, s.Affected, s.Missed)
}

// CostCells are the Markdown cells of the control plane's CPU seconds, the
// cores that makes over the scenario, and its peak RSS during it; dashes
// when they were not measured.
func CostCells(s ScenarioResult) string {
	if s.CPUSeconds == nil || s.PeakRSSBytes == nil {
		return "– | – | –"
	}
	cores := "–"
	if s.Duration > 0 {
		cores = fmt.Sprintf("%.2f", *s.CPUSeconds/s.Duration.Seconds())
	}
	return fmt.Sprintf("%.2f | %s | %s", *s.CPUSeconds, cores, FormatBytes(*s.PeakRSSBytes))
}

func fmtChanges(n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprint(n)
}

// FormatMs formats milliseconds, as seconds from one second on.
func FormatMs(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// FormatBytes formats a byte count in B, KiB, MiB or GiB.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func fmtCPU(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *v)
}

func fmtRSS(v *int64) string {
	if v == nil {
		return "–"
	}
	return FormatBytes(*v)
}
