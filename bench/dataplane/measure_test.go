package dataplane

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentilesByNearestRank(t *testing.T) {
	var samples []time.Duration
	for i := 1000; i >= 1; i-- { // 1..1000 µs, unsorted
		samples = append(samples, time.Duration(i)*time.Microsecond)
	}
	got := percentilesOf(samples)
	want := Percentiles{P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond, P999: 999 * time.Microsecond}
	if got != want {
		t.Errorf("percentiles of 1..1000 µs = %+v, want %+v", got, want)
	}
	if got := percentilesOf(nil); got != (Percentiles{}) {
		t.Errorf("percentiles of no samples = %+v, want zero", got)
	}
	one := percentilesOf([]time.Duration{7 * time.Millisecond})
	if one.P50 != 7*time.Millisecond || one.P999 != 7*time.Millisecond {
		t.Errorf("percentiles of one sample = %+v, want all 7ms", one)
	}
}

func TestPercentilesJSONInMilliseconds(t *testing.T) {
	p := Percentiles{P50: 450 * time.Microsecond, P90: time.Millisecond, P99: 2500 * time.Microsecond, P999: 10 * time.Millisecond}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"p50":0.45,"p90":1,"p99":2.5,"p99.9":10}`; string(data) != want {
		t.Errorf("JSON = %s, want %s", data, want)
	}
	var back Percentiles
	if err := json.Unmarshal(data, &back); err != nil || back != p {
		t.Errorf("round trip = %+v (%v), want %+v", back, err, p)
	}
}

func TestParseNighthawkReadsGlobalResult(t *testing.T) {
	data, err := os.ReadFile("testdata/nighthawk-output.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseNighthawk(data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := Measurement{
		Requests: 3000,
		Errors:   4, // 3 × 5xx + 1 stream reset; worker_0's counters are not added again
		QPS:      1000,
		Latency: Percentiles{
			P50:  450 * time.Microsecond,
			P90:  610 * time.Microsecond,
			P99:  950 * time.Microsecond,  // first step at or above 0.99: 0.990625
			P999: 1500 * time.Microsecond, // 0.99902344
		},
	}
	if m != want {
		t.Errorf("measurement = %+v, want %+v", m, want)
	}
}

func TestParseNighthawkRejectsOutputWithoutLatencies(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":         "Nighthawk - A layer 7 protocol benchmarking tool.",
		"no global result": `{"results":[{"name":"worker_0"}]}`,
		"no samples":       `{"results":[{"name":"global","statistics":[{"id":"benchmark_http_client.request_to_response","count":"0"}]}]}`,
	} {
		if _, err := parseNighthawk([]byte(doc), time.Second); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestNighthawkArgsFollowIstiosMethod(t *testing.T) {
	args := nighthawkArgs(target{URL: "http://127.0.0.2:9080/", Host: "server.bench.svc.cluster.local"},
		load{QPS: 1000, Connections: 16, PayloadBytes: 1024, Duration: 1500 * time.Millisecond})
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"--concurrency 1", "--rps 1000", "--connections 16", "--duration 2", "--output-format json",
		"--request-method POST", "--request-body-size 1024", "--request-header host: server.bench.svc.cluster.local",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("nighthawk args %q lack %q", joined, want)
		}
	}
	if args[len(args)-1] != "http://127.0.0.2:9080/" {
		t.Errorf("last argument = %q, want the URL", args[len(args)-1])
	}
}

func TestOptionsDefaultsAreIstiosMethod(t *testing.T) {
	o := Options{}.withDefaults()
	if o.QPS != 1000 || o.Connections != 16 || o.PayloadBytes != 1024 || o.Duration != 30*time.Second || o.Warmup <= 0 {
		t.Errorf("defaults = %+v", o)
	}
	if !slices.Equal(o.Scenarios, AllScenarios) || o.LoadGenerator != LoadGenAuto {
		t.Errorf("default scenarios %v, load generator %q", o.Scenarios, o.LoadGenerator)
	}
}

func TestOptionsValidateRejectsNonsense(t *testing.T) {
	for name, o := range map[string]Options{
		"unknown scenario":                          {Scenarios: []string{"ambient"}},
		"unknown load generator":                    {LoadGenerator: "wrk"},
		"more connections than requests per second": {QPS: 10, Connections: 16},
		"rounds too short":                          {Duration: time.Second, Rounds: 10},
		"negative duration":                         {Duration: -time.Second},
	} {
		if err := o.withDefaults().validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (Options{}).withDefaults().validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestCheckTargetComparesP90(t *testing.T) {
	results := []Result{
		{Scenario: ScenarioDirect, Measurement: Measurement{Latency: Percentiles{P90: 100 * time.Microsecond}}},
		{Scenario: ScenarioIsthmus, Measurement: Measurement{Latency: Percentiles{P90: 1150 * time.Microsecond}}},
		{Scenario: ScenarioStatic, Measurement: Measurement{Latency: Percentiles{P90: time.Millisecond}}},
	}
	got := checkTarget(results)
	if got == nil || got.Met || got.ExcessPercent != 15 || got.IsthmusP90Ms != 1.15 || got.StaticP90Ms != 1 {
		t.Errorf("15%% above static: %+v, want missed with excess 15", got)
	}
	results[1].Latency.P90 = 1050 * time.Microsecond
	if got := checkTarget(results); got == nil || !got.Met {
		t.Errorf("5%% above static: %+v, want met", got)
	}
	if got := checkTarget(results[:2]); got != nil {
		t.Errorf("without the static scenario: %+v, want none", got)
	}
}

func TestOneContendedRoundDoesNotDecideTheTarget(t *testing.T) {
	results := []Result{
		{Scenario: ScenarioIsthmus, RoundP90Ms: []float64{1.02, 1.05, 3.0, 1.01, 1.04},
			Measurement: Measurement{Latency: Percentiles{P90: 1500 * time.Microsecond}}},
		{Scenario: ScenarioStatic, RoundP90Ms: []float64{1, 1, 1, 1, 1},
			Measurement: Measurement{Latency: Percentiles{P90: time.Millisecond}}},
	}
	got := checkTarget(results)
	if got == nil || !got.Met || got.ExcessPercent != 4 || got.PairedRounds != 5 || got.PooledExcessPercent != 50 {
		t.Fatalf("rounds +2, +5, +200, +1, +4%%: %+v, want met on the median +4%% with the pooled +50%% kept", got)
	}
	if got.ExcessQ1Percent != 2 || got.ExcessQ3Percent != 5 {
		t.Errorf("middle half %v..%v, want 2..5", got.ExcessQ1Percent, got.ExcessQ3Percent)
	}
	if f := got.Figures(); !strings.Contains(f, "+4.0% over static (median of 5 paired rounds") || !strings.Contains(f, "+50.0%") {
		t.Errorf("figures %q lack the median and the pooled excess", f)
	}
	results[0].RoundP90Ms = []float64{1.2, 1.15, 1.0, 1.3, 1.12}
	if got := checkTarget(results); got == nil || got.Met || got.ExcessPercent != 15 {
		t.Errorf("most rounds above +10%%: %+v, want missed at +15%%", got)
	}
}

func TestMarkdownHasARowPerScenario(t *testing.T) {
	r := &Report{
		LoadGenerator: "fortio v1.75.3 (Go library)",
		EnvoyVersion:  "abc/1.40.0/Clean/RELEASE/BoringSSL",
		Settings:      Settings{QPS: 1000, Connections: 16, PayloadBytes: 1024, DurationS: 30, WarmupS: 5, Rounds: 5},
		Results: []Result{
			{Scenario: ScenarioDirect, Description: descriptions[ScenarioDirect], Measurement: Measurement{
				Requests: 30000, QPS: 999.9, Latency: Percentiles{P50: 90 * time.Microsecond, P90: 142 * time.Microsecond}}},
			{Scenario: ScenarioStatic, Description: descriptions[ScenarioStatic], Measurement: Measurement{
				Requests: 29990, Errors: 3, QPS: 999.6, Latency: Percentiles{P50: 1115 * time.Microsecond}}},
		},
	}
	md := r.Markdown()
	for _, want := range []string{
		"| direct | client → server | 0.090 ms | 0.142 ms |",
		"| 999.9 | 30000 | 0 |",
		"| static |", "| 999.6 | 29990 | 3 |",
		"1000 qps over 16 connections", "1.40.0", "in 5 rounds",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestRotateStartsEachRoundWithTheNextScenario(t *testing.T) {
	names := []string{"a", "b", "c"}
	for round, want := range [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}} {
		if got := rotate(names, round); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its input: %v", names)
	}
}

func TestMergeRunsUsesEveryRequestWhenRecorded(t *testing.T) {
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	var slow, fast []time.Duration
	for i := range 100 {
		fast = append(fast, us(100+i)) // 100..199 µs
		slow = append(slow, us(900+i)) // 900..999 µs
	}
	runs := []run{
		{Measurement: Measurement{Requests: 100, QPS: 100, Latency: percentilesOf(fast)}, samples: fast},
		{Measurement: Measurement{Requests: 100, Errors: 2, QPS: 50, Latency: percentilesOf(slow)}, samples: slow},
	}
	m, from := mergeRuns(runs)
	if from != "every request" || m.Requests != 200 || m.Errors != 2 {
		t.Errorf("merged %+v from %q", m, from)
	}
	if want := 200 / 3.0; math.Abs(m.QPS-want) > 1e-9 { // 200 requests over 1 s + 2 s
		t.Errorf("merged rate %v, want %v", m.QPS, want)
	}
	if m.Latency.P50 != us(199) || m.Latency.P90 != us(979) {
		t.Errorf("merged percentiles %+v, want p50 199µs and p90 979µs over all 200 requests", m.Latency)
	}
	runs[1].samples = nil // as from Nighthawk
	m, from = mergeRuns(runs)
	if !strings.Contains(from, "weighted") || m.Latency.P50 != (runs[0].Latency.P50+runs[1].Latency.P50)/2 {
		t.Errorf("without samples: %+v from %q, want the mean of the runs' percentiles", m.Latency, from)
	}
}
