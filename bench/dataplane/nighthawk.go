package dataplane

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// nighthawkCommand is Nighthawk's load generator, looked up on PATH.
const nighthawkCommand = "nighthawk_client"

// The Nighthawk statistic and counters a measurement is read from.
const (
	nighthawkLatencyStat = "benchmark_http_client.request_to_response"
	nighthawkGlobal      = "global" // the result aggregating every worker
)

// nighthawkErrorCounters are the counters of requests that got no 2xx
// answer.
var nighthawkErrorCounters = []string{
	"benchmark.http_1xx", "benchmark.http_3xx", "benchmark.http_4xx", "benchmark.http_5xx", "benchmark.http_xxx",
	"benchmark.pool_connection_failure", "benchmark.stream_resets",
}

// nighthawk runs nighthawk_client once per measurement, on one event loop
// (its --rps and --connections are per loop), and reads its JSON output.
type nighthawk struct {
	bin string
}

func newNighthawk(bin string) *nighthawk { return &nighthawk{bin: bin} }

// Name is the first line of `nighthawk_client --version`.
func (n *nighthawk) Name() string {
	out, err := exec.Command(n.bin, "--version").CombinedOutput()
	if err != nil {
		return "nighthawk (unknown version)"
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return "nighthawk " + strings.TrimSpace(first)
}

// Run sends l to t with nighthawk_client. Its exit status is not trusted
// alone: Nighthawk exits non-zero when one of its failure predicates
// trips, and the JSON it printed still says what happened.
func (n *nighthawk) Run(ctx context.Context, t target, l load) (run, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, n.bin, nighthawkArgs(t, l)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	m, err := parseNighthawk(stdout.Bytes(), l.Duration)
	if err != nil {
		return run{}, fmt.Errorf("nighthawk against %s: %w (exit: %v; stderr: %s)", t.URL, err, runErr, lastLines(stderr.String(), 10))
	}
	return run{Measurement: m}, nil
}

// nighthawkArgs asks for l against t, with Istio's request shape: POST
// with a body of l.PayloadBytes.
func nighthawkArgs(t target, l load) []string {
	seconds := max(1, int(math.Ceil(l.Duration.Seconds())))
	args := []string{
		"--concurrency", "1",
		"--rps", strconv.Itoa(l.QPS),
		"--connections", strconv.Itoa(l.Connections),
		"--duration", strconv.Itoa(seconds),
		"--timeout", strconv.Itoa(int(requestTimeout.Seconds())),
		"--output-format", "json",
		"-v", "error",
	}
	if l.PayloadBytes > 0 {
		args = append(args, "--request-method", "POST", "--request-body-size", strconv.Itoa(l.PayloadBytes))
	}
	if t.Host != "" {
		args = append(args, "--request-header", "host: "+t.Host)
	}
	return append(args, t.URL)
}

// nighthawkOutput is the part of Nighthawk's JSON output (the protobuf
// JSON form of nighthawk.client.Output) a measurement needs. 64-bit
// integers arrive as strings, durations as "1.5s".
type nighthawkOutput struct {
	Results []struct {
		Name       string `json:"name"`
		Statistics []struct {
			ID          string   `json:"id"`
			Count       jsonUint `json:"count"`
			Percentiles []struct {
				Percentile float64  `json:"percentile"`
				Duration   string   `json:"duration"`
				Count      jsonUint `json:"count"`
			} `json:"percentiles"`
		} `json:"statistics"`
		Counters []struct {
			Name  string   `json:"name"`
			Value jsonUint `json:"value"`
		} `json:"counters"`
		ExecutionDuration string `json:"execution_duration"`
	} `json:"results"`
}

// parseNighthawk reads the global result: request-to-response percentiles
// (the smallest reported percentile at or above each wanted one), the
// error counters, and the rate over the execution duration (or the
// requested one when the output has none).
func parseNighthawk(data []byte, requested time.Duration) (Measurement, error) {
	var out nighthawkOutput
	if err := json.Unmarshal(data, &out); err != nil {
		return Measurement{}, fmt.Errorf("decode nighthawk output: %w", err)
	}
	for _, r := range out.Results {
		if r.Name != nighthawkGlobal {
			continue
		}
		var m Measurement
		for _, s := range r.Statistics {
			if s.ID != nighthawkLatencyStat {
				continue
			}
			m.Requests = int64(s.Count)
			pts := make([]percentilePoint, 0, len(s.Percentiles))
			for _, p := range s.Percentiles {
				d, err := parseProtoDuration(p.Duration)
				if err != nil {
					return Measurement{}, err
				}
				pts = append(pts, percentilePoint{share: p.Percentile, value: d})
			}
			m.Latency = percentilesFromPoints(pts)
		}
		if m.Requests == 0 {
			return Measurement{}, fmt.Errorf("nighthawk output has no %s statistic with samples", nighthawkLatencyStat)
		}
		counters := map[string]int64{}
		for _, c := range r.Counters {
			counters[c.Name] = int64(c.Value)
		}
		for _, name := range nighthawkErrorCounters {
			m.Errors += counters[name]
		}
		m.QPS = rate(m.Requests, r.ExecutionDuration, requested)
		return m, nil
	}
	return Measurement{}, fmt.Errorf("nighthawk output has no %q result", nighthawkGlobal)
}

// percentilePoint is one reported percentile: share in [0, 1].
type percentilePoint struct {
	share float64
	value time.Duration
}

// percentilesFromPoints picks, for each wanted percentile, the smallest
// reported point at or above it (Nighthawk reports HdrHistogram steps such
// as 0.990625 rather than 0.99), or the highest point when none is.
func percentilesFromPoints(pts []percentilePoint) Percentiles {
	slices.SortFunc(pts, func(a, b percentilePoint) int { return cmp.Compare(a.share, b.share) })
	at := func(share float64) time.Duration {
		for _, p := range pts {
			if p.share >= share-1e-9 {
				return p.value
			}
		}
		if len(pts) == 0 {
			return 0
		}
		return pts[len(pts)-1].value
	}
	return Percentiles{P50: at(0.5), P90: at(0.9), P99: at(0.99), P999: at(0.999)}
}

// rate is requests per second over the execution duration Nighthawk
// reported, or over requested when it reported none.
func rate(requests int64, executionDuration string, requested time.Duration) float64 {
	d, err := parseProtoDuration(executionDuration)
	if err != nil || d <= 0 {
		d = requested
	}
	if d <= 0 {
		return 0
	}
	return float64(requests) / d.Seconds()
}

// parseProtoDuration reads the JSON form of google.protobuf.Duration
// ("0.000123s").
func parseProtoDuration(s string) (time.Duration, error) {
	if !strings.HasSuffix(s, "s") {
		return 0, fmt.Errorf("duration %q is not in seconds", s)
	}
	secs, err := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}

// jsonUint reads a 64-bit unsigned integer written as a JSON string (as
// protobuf JSON does) or as a number.
type jsonUint uint64

// UnmarshalJSON accepts "123" and 123.
func (u *jsonUint) UnmarshalJSON(data []byte) error {
	text := strings.Trim(string(data), `"`)
	v, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return fmt.Errorf("integer %s: %w", data, err)
	}
	*u = jsonUint(v)
	return nil
}

// lastLines is the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
