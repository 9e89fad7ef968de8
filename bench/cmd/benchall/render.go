package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/dataplane"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// results is everything one run measured, as the section shows it.
type results struct {
	Started time.Time
	Runtime time.Duration
	Commit  string
	Machine machine
	Config  config
	Steps   []stepOutcome

	GoBench   *goBenchResult
	XDS       *xdsResult
	Dataplane *dataplane.Report
}

// Step names, as the section and the progress lines name them.
const (
	stepGoBench   = "Go benchmarks"
	stepXDS       = "xDS load"
	stepDataplane = "data-plane latency"
)

// stepOutcome is how one step went.
type stepOutcome struct {
	Name     string
	Skipped  bool
	Duration time.Duration
	Err      error
}

// section renders the results as the Markdown between the markers.
func section(r *results) string {
	var b strings.Builder
	writeHeader(&b, r)
	writeTargets(&b, r)
	writeGoBench(&b, r)
	writeXDS(&b, r)
	writeDataplane(&b, r)
	return b.String()
}

func writeHeader(b *strings.Builder, r *results) {
	fmt.Fprintf(b, "Written by `make bench` (`bench/cmd/benchall`) on %s, commit `%s`; each run replaces this section, the history below is written by hand.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Commit)
	fmt.Fprintf(b, "```\n%s\n```\n\n", shellJoin(append([]string{"go", "run", "./bench/cmd/benchall"}, r.Config.Args...)))
	fmt.Fprintf(b, "Machine: %s.\n\n", r.Machine)
	b.WriteString("| step | outcome | time |\n|---|---|---:|\n")
	for _, s := range r.Steps {
		fmt.Fprintf(b, "| %s | %s | %s |\n", s.Name, s.outcome(), s.time())
	}
	fmt.Fprintf(b, "| total | | %s |\n\n", fmtDuration(r.Runtime))
}

func (s stepOutcome) outcome() string {
	switch {
	case s.Skipped:
		return "skipped"
	case s.Err != nil:
		return "**failed**: " + oneLine(s.Err.Error())
	}
	return "done"
}

func (s stepOutcome) time() string {
	if s.Skipped {
		return "–"
	}
	return fmtDuration(s.Duration)
}

// oneLine keeps the first line of a message, for a table cell.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return strings.ReplaceAll(first, "|", `\|`)
}

func writeTargets(b *strings.Builder, r *results) {
	b.WriteString("### Issue 3's targets\n\n")
	if r.Config.Unscoped {
		b.WriteString("Issue 3's targets are set for the Sidecar-scoped mesh; this run was unscoped (`--unscoped`), whose figures bench/RESULTS.md compares by hand with the unscoped-mesh targets.\n\n")
		return
	}
	if (r.XDS == nil || len(r.XDS.Reports) == 0) && r.Dataplane == nil {
		b.WriteString("No step that measures a target ran.\n\n")
		return
	}
	b.WriteString("Set for this 2-core machine; istiod's figures on the same mesh and load in parentheses. A target set at 5,000 or 10,000 sidecars and met by a smaller run is not shown met: run at that scale (`--proxies 5000`, `--proxies 10000`). Peak RSS is the control plane's over all scenarios, CPU the connect storm's plus one mesh-wide change's.\n\n")
	if r.XDS != nil && len(r.XDS.Reports) > 0 {
		writeXDSTargets(b, r.XDS.Reports)
	}
	if r.Dataplane != nil {
		c := dataplaneTarget(r.Dataplane)
		fmt.Fprintf(b, "Data plane (%s): %s — %s.\n\n", c.Target, c.Measured, c.Verdict)
	}
}

// writeXDSTargets is the control-plane targets table: one row per target,
// one column per protocol, each cell the figure and its verdict.
func writeXDSTargets(b *strings.Builder, reports []*xdsload.Report) {
	var columns [][]targetCheck
	b.WriteString("| target |")
	for _, rep := range reports {
		fmt.Fprintf(b, " %s, %s sidecars |", protocolTitle(rep.Protocol), grouped(int64(rep.Proxies)))
		columns = append(columns, xdsTargets(rep))
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(reports)) + "\n")
	for row, first := range columns[0] {
		fmt.Fprintf(b, "| %s |", first.Target)
		for _, col := range columns {
			fmt.Fprintf(b, " %s: %s |", oneLine(col[row].Measured), col[row].Verdict)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func protocolTitle(protocol string) string {
	if title, ok := map[string]string{"sotw": "State of the world", "delta": "Delta"}[protocol]; ok {
		return title
	}
	return protocol
}

func writeGoBench(b *strings.Builder, r *results) {
	g := r.GoBench
	if g == nil {
		return
	}
	b.WriteString("### Go benchmarks\n\n")
	fmt.Fprintf(b, "```\n%s\n```\n\n", g.Command)
	if len(g.Lines) == 0 {
		b.WriteString("No results.\n\n")
		return
	}
	b.WriteString("| benchmark | iterations | time/op | B/op | allocs/op | other metrics |\n|---|---:|---:|---:|---:|---|\n")
	for _, l := range g.Lines {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s |\n", l.Name, l.Iterations,
			fmtDuration(time.Duration(l.NsPerOp)), fmtBytesCell(l.BytesPerOp), fmtCount(l.AllocsPerOp), fmtMetrics(l.Metrics))
	}
	b.WriteString("\n")
}

func writeXDS(b *strings.Builder, r *results) {
	x := r.XDS
	if x == nil {
		return
	}
	m := x.Mesh
	b.WriteString("### xDS load against `isthmus serve`\n\n")
	scoping := "a Sidecar per namespace"
	if !m.Sidecars {
		scoping = "no Sidecar resources (unscoped: every sidecar sees every service)"
	}
	fmt.Fprintf(b, "Mesh: %s services in %s namespaces, %d endpoints and %d subsets each, an 80/20 VirtualService per service, %s; %s sidecars spread over the namespaces; %s per change scenario at %g per second. A fresh `isthmus serve` per protocol (restart it between the two xdsload runs by hand):\n\n",
		grouped(int64(m.Services)), grouped(int64(m.Namespaces)), m.EndpointsPerService, m.Subsets, scoping, grouped(int64(r.Config.Proxies)), plural(r.Config.Changes, "change"), r.Config.Rate)
	fmt.Fprintf(b, "```\n%s\n```\n\n", strings.Join(xdsCommands(r.Config, m), "\n"))
	for _, rep := range x.Reports {
		fmt.Fprintf(b, "#### %s\n\n", protocolTitle(rep.Protocol))
		var table strings.Builder
		if err := rep.WriteMarkdown(&table); err != nil {
			fmt.Fprintf(b, "Report not rendered: %v\n\n", err)
			continue
		}
		b.WriteString(strings.TrimRight(table.String(), "\n") + "\n\n")
	}
}

func writeDataplane(b *strings.Builder, r *results) {
	d := r.Dataplane
	if d == nil {
		return
	}
	b.WriteString("### Data-plane latency\n\n")
	fmt.Fprintf(b, "```\n%s\n```\n\n", dataplaneCommand(r.Config))
	b.WriteString(strings.TrimRight(d.Markdown(), "\n") + "\n\n")
	if d.Settings.DurationS < dataplane.DefaultDuration.Seconds() {
		fmt.Fprintf(b, "A short run (%v per scenario, Istio's method uses %v): p90 differences of a few percent are within the noise of a shared machine.\n\n",
			time.Duration(d.Settings.DurationS*float64(time.Second)), dataplane.DefaultDuration)
	}
}

// fmtDuration is d with a unit suited to its size.
func fmtDuration(d time.Duration) string {
	v := float64(d)
	switch {
	case d < 0:
		return "–"
	case d < time.Microsecond:
		return fmt.Sprintf("%.0f ns", v)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", v/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", v/1e9)
	}
	return d.Round(time.Second).String()
}

func fmtBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func fmtBytesCell(n float64) string {
	if n < 0 {
		return "–"
	}
	return fmtBytes(n)
}

func fmtCount(n float64) string {
	if n < 0 {
		return "–"
	}
	return grouped(int64(math.Round(n)))
}

func fmtMetrics(ms []metric) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Value + " " + m.Unit
	}
	return strings.Join(parts, ", ")
}

// plural is "1 change", "3 changes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return grouped(int64(n)) + " " + noun + "s"
}

// grouped writes n with thousands separators: 5000 → "5,000".
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
