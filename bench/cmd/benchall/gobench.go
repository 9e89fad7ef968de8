package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// goBenchResult is the outcome of the Go benchmarks step.
type goBenchResult struct {
	Command string // the go test command line, as the section shows it
	CPU     string // the "cpu:" line go test prints
	Lines   []benchLine
}

// benchLine is one benchmark result line of `go test -bench`.
type benchLine struct {
	Name        string // without the -GOMAXPROCS suffix
	Iterations  int64
	NsPerOp     float64
	BytesPerOp  float64 // -1 when not reported
	AllocsPerOp float64 // -1 when not reported
	Metrics     []metric
}

// metric is a custom figure a benchmark reports (b.ReportMetric), kept as
// go test printed it.
type metric struct{ Value, Unit string }

// goTestArgs is the go test command line of the step.
func goTestArgs(cfg config) []string {
	return []string{"test", "-run", "^$", "-bench", cfg.GoBench, "-benchmem", "-benchtime", cfg.GoBenchtime, "./bench/"}
}

// runGoBench runs the Go benchmarks of bench/ in the repository at root,
// copying go test's output to progress, and parses the results.
func runGoBench(ctx context.Context, cfg config, root string, progress io.Writer) (*goBenchResult, error) {
	args := goTestArgs(cfg)
	res := &goBenchResult{Command: shellJoin(append([]string{"go"}, args...))}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout = io.MultiWriter(&out, progress)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("%s: %w\n%s", res.Command, err, lastLines(out.String(), 20))
	}
	res.CPU, res.Lines = parseGoBench(out.String())
	if len(res.Lines) == 0 {
		return res, fmt.Errorf("%s: no benchmark matched %q", res.Command, cfg.GoBench)
	}
	return res, nil
}

// benchLinePattern matches "BenchmarkName-N  ITERATIONS  VALUE UNIT ...".
var benchLinePattern = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)

// parseGoBench extracts the cpu line and every benchmark result line from
// go test output.
func parseGoBench(output string) (cpu string, lines []benchLine) {
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(text, "cpu:"); ok {
			cpu = strings.TrimSpace(v)
			continue
		}
		if line, ok := parseBenchLine(text); ok {
			lines = append(lines, line)
		}
	}
	return cpu, lines
}

func parseBenchLine(text string) (benchLine, bool) {
	m := benchLinePattern.FindStringSubmatch(text)
	if m == nil {
		return benchLine{}, false
	}
	iterations, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return benchLine{}, false
	}
	line := benchLine{Name: m[1], Iterations: iterations, NsPerOp: -1, BytesPerOp: -1, AllocsPerOp: -1}
	fields := strings.Fields(m[3])
	for i := 0; i+1 < len(fields); i += 2 {
		line.add(fields[i], fields[i+1])
	}
	return line, line.NsPerOp >= 0
}

// add records one "VALUE UNIT" pair: the standard units in their fields,
// any other as a custom metric.
func (l *benchLine) add(value, unit string) {
	v, err := strconv.ParseFloat(value, 64)
	switch {
	case err == nil && unit == "ns/op":
		l.NsPerOp = v
	case err == nil && unit == "B/op":
		l.BytesPerOp = v
	case err == nil && unit == "allocs/op":
		l.AllocsPerOp = v
	default:
		l.Metrics = append(l.Metrics, metric{Value: value, Unit: unit})
	}
}

// lastLines is the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// shellJoin quotes each argument that a shell would split or expand.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
