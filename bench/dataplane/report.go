package dataplane

import (
	"fmt"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
)

// Report is the outcome of a run, as written to JSON.
type Report struct {
	Date          time.Time       `json:"date"`
	Machine       xdsload.Machine `json:"machine"`
	LoadAverage   string          `json:"loadAverage"` // /proc/loadavg when the run started
	EnvoyVersion  string          `json:"envoyVersion,omitempty"`
	LoadGenerator string          `json:"loadGenerator"`
	Settings      Settings        `json:"settings"`
	Results       []Result        `json:"results"`
	Target        *TargetCheck    `json:"target,omitempty"`
}

// Settings is the load each scenario received.
type Settings struct {
	QPS          int     `json:"qps"`
	Connections  int     `json:"connections"`
	PayloadBytes int     `json:"payloadBytes"`
	DurationS    float64 `json:"durationSeconds"` // measured per scenario, over all rounds
	WarmupS      float64 `json:"warmupSeconds"`
	Rounds       int     `json:"rounds"`
}

// Result is one scenario's measurement and the requests each point of its
// path saw during the measured run.
type Result struct {
	Scenario    string `json:"scenario"`
	Description string `json:"description"`
	Measurement
	Rounds          int        `json:"rounds"`
	RoundP90Ms      []float64  `json:"roundP90Ms,omitempty"` // each round's p90, in measuring order
	PercentilesFrom string     `json:"percentilesFrom"`      // "every request", or how rounds were combined
	Hops            []HopCount `json:"hops"`
}

func newReport(opts Options, gen loadGenerator, envoyBin string) *Report {
	return &Report{
		Date:          time.Now().UTC().Truncate(time.Second),
		Machine:       xdsload.DescribeMachine(),
		LoadAverage:   xdsload.LoadAverage(),
		EnvoyVersion:  envoyVersion(envoyBin),
		LoadGenerator: gen.Name(),
		Settings: Settings{
			QPS: opts.QPS, Connections: opts.Connections, PayloadBytes: opts.PayloadBytes,
			DurationS: opts.Duration.Seconds(), WarmupS: opts.Warmup.Seconds(), Rounds: opts.Rounds,
		},
	}
}

// envoyVersion is the version line of `envoy --version`, "" without Envoy.
func envoyVersion(bin string) string {
	if bin == "" {
		return ""
	}
	v, err := envoybin.Version(bin)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	return v
}

// Markdown renders the report: what was measured where, the table, and
// the target check.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Load: %s, HTTP/1.1, %d B request and response bodies, %d qps over %d connections; per scenario %s warm-up, then %s measured in %d rounds interleaved with the other scenarios.\n\n",
		r.LoadGenerator, r.Settings.PayloadBytes, r.Settings.QPS, r.Settings.Connections,
		seconds(r.Settings.WarmupS), seconds(r.Settings.DurationS), r.Settings.Rounds)
	if r.EnvoyVersion != "" {
		fmt.Fprintf(&b, "Envoy %s, one worker thread each (`--concurrency 1`).\n\n", r.EnvoyVersion)
	}
	fmt.Fprintf(&b, "Machine: %s; load average %s at the start (%s).\n\n", r.Machine, r.LoadAverage, r.Date.Format(time.RFC3339))
	b.WriteString(r.table())
	if t := r.Target; t != nil {
		fmt.Fprintf(&b, "\nTarget (%s): %s — %s.\n", t.Goal, t.Figures(), t.Verdict())
	}
	return b.String()
}

func (r *Report) table() string {
	var b strings.Builder
	b.WriteString("| scenario | path | p50 | p90 | p99 | p99.9 | qps achieved | requests | errors |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range r.Results {
		l := res.Latency
		fmt.Fprintf(&b, "| %s | %s | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.1f | %d | %d |\n",
			res.Scenario, res.Description, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), res.QPS, res.Requests, res.Errors)
	}
	return b.String()
}

func seconds(s float64) string { return (time.Duration(s * float64(time.Second))).String() }
