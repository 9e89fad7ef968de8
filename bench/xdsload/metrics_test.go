package xdsload

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// exposition is what a control plane serves at two moments of a run.
const expositionBefore = `# TYPE isthmus_xds_pushes_total counter
isthmus_xds_pushes_total{type="eds"} 10
isthmus_xds_pushes_total{type="lds"} 4
# TYPE isthmus_xds_connected_proxies gauge
isthmus_xds_connected_proxies 4
# TYPE isthmus_xds_push_duration_seconds histogram
isthmus_xds_push_duration_seconds_bucket{le="0.1"} 2
isthmus_xds_push_duration_seconds_bucket{le="1"} 2
isthmus_xds_push_duration_seconds_bucket{le="+Inf"} 2
isthmus_xds_push_duration_seconds_sum 0.1
isthmus_xds_push_duration_seconds_count 2
# TYPE go_goroutines gauge
go_goroutines 40
`

const expositionAfter = `# TYPE isthmus_xds_pushes_total counter
isthmus_xds_pushes_total{type="eds"} 10
isthmus_xds_pushes_total{type="lds"} 104
# TYPE isthmus_xds_connected_proxies gauge
isthmus_xds_connected_proxies 100
# TYPE isthmus_xds_push_duration_seconds histogram
isthmus_xds_push_duration_seconds_bucket{le="0.1"} 2
isthmus_xds_push_duration_seconds_bucket{le="1"} 102
isthmus_xds_push_duration_seconds_bucket{le="+Inf"} 102
isthmus_xds_push_duration_seconds_sum 50.1
isthmus_xds_push_duration_seconds_count 102
# TYPE go_goroutines gauge
go_goroutines 400
`

// A scenario reports how counters grew, gauges at its end, and the
// histogram observations made during it; series that did not move and
// families without the prefix are left out.
func TestMetricsBetweenTwoScrapes(t *testing.T) {
	body := expositionBefore
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	m, err := newMetricsScraper(srv.URL+"/metrics", "isthmus_")
	if err != nil {
		t.Fatal(err)
	}
	before, err := m.scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	body = expositionAfter
	after, err := m.scrape(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := metricsBetween(before, after)
	var series []string
	for _, g := range got {
		series = append(series, g.Series)
	}
	want := []string{"isthmus_xds_connected_proxies", "isthmus_xds_push_duration_seconds", `isthmus_xds_pushes_total{type="lds"}`}
	if strings.Join(series, " ") != strings.Join(want, " ") {
		t.Fatalf("series %q, want %q", series, want)
	}
	if got[0].Value != 100 || got[2].Value != 100 {
		t.Errorf("gauge %v and counter increase %v, want 100 and 100", got[0].Value, got[2].Value)
	}
	h := got[1]
	// 100 observations, all between 0.1 s and 1 s, 0.5 s on average.
	if h.Count != 100 || math.Abs(h.Mean-0.5) > 1e-9 || math.Abs(h.P50-0.55) > 1e-9 || math.Abs(h.P99-0.991) > 1e-9 {
		t.Errorf("histogram %+v, want 100 observations, mean 0.5, p50 0.55, p99 0.991", h)
	}
}

func TestMetricsAddressMustBeLoopback(t *testing.T) {
	for _, bad := range []string{"http://10.0.0.1:15014/metrics", "15014", "ftp://127.0.0.1/metrics"} {
		if _, err := newMetricsScraper(bad, "isthmus_"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
