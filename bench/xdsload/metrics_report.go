package xdsload

import (
	"fmt"
	"slices"
	"strings"
)

// writeMetricsTable writes the control plane's metrics as one row per
// series and one column per scenario; nothing when none were read.
func writeMetricsTable(b *strings.Builder, scenarios []ScenarioResult) {
	var series []string
	cells := map[string]map[string]string{} // series → scenario → cell
	for _, s := range scenarios {
		for _, m := range s.Metrics {
			if cells[m.Series] == nil {
				cells[m.Series] = map[string]string{}
				series = append(series, m.Series)
			}
			cells[m.Series][s.Name] = metricCell(m)
		}
	}
	if len(series) == 0 {
		return
	}
	slices.Sort(series)
	b.WriteString("\nControl plane metrics per scenario (counters: increase; gauges: value at the end; histograms: observations, mean, p50, p99):\n\n| series |")
	for _, s := range scenarios {
		fmt.Fprintf(b, " %s |", s.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(scenarios)) + "\n")
	for _, name := range series {
		fmt.Fprintf(b, "| `%s` |", name)
		for _, s := range scenarios {
			cell := cells[name][s.Name]
			if cell == "" {
				cell = "–"
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		b.WriteString("\n")
	}
}

func metricCell(m Metric) string {
	if m.Kind != "histogram" {
		return fmt.Sprintf("%g", m.Value)
	}
	return fmt.Sprintf("%g × %s (p50 %s, p99 %s)", m.Count, fmtSeconds(m.Mean), fmtSeconds(m.P50), fmtSeconds(m.P99))
}

// fmtSeconds writes a histogram value, which Prometheus measures in
// seconds, in the report's latency units.
func fmtSeconds(v float64) string { return FormatMs(v * 1000) }
