package xdsload

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric is one series of the control plane's own metrics over a scenario:
// for a counter, how much it grew; for a gauge, its value at the end; for
// a histogram, the observations made during the scenario.
type Metric struct {
	// Series is the metric name with its labels, as Prometheus writes it:
	// isthmus_xds_pushes_total{type="eds"}.
	Series string `json:"series"`
	Kind   string `json:"kind"` // "counter", "gauge" or "histogram"
	// Value is the counter's increase, or the gauge's value.
	Value float64 `json:"value,omitempty"`
	// Count, Mean, P50 and P99 describe the histogram's observations during
	// the scenario; the percentiles are interpolated within buckets.
	Count float64 `json:"count,omitempty"`
	Mean  float64 `json:"mean,omitempty"`
	P50   float64 `json:"p50,omitempty"`
	P99   float64 `json:"p99,omitempty"`
}

// metricsScraper reads the Prometheus text exposition of a control plane
// (Isthmus serves it on its monitoring port), keeping the families whose
// names start with prefix.
type metricsScraper struct {
	url    string
	prefix string
	client *http.Client
}

func newMetricsScraper(rawURL, prefix string) (*metricsScraper, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("metrics address %q: want http://HOST:PORT/metrics", rawURL)
	}
	if err := checkLoopback(u.Host); err != nil {
		return nil, fmt.Errorf("metrics address: %w", err)
	}
	return &metricsScraper{url: u.String(), prefix: prefix, client: &http.Client{}}, nil
}

// metricsSample is one scrape: series name → the sample.
type metricsSample map[string]*seriesSample

type seriesSample struct {
	kind    string
	value   float64   // counter or gauge
	count   float64   // histogram
	sum     float64   // histogram
	bounds  []float64 // histogram upper bounds, ascending
	buckets []float64 // histogram cumulative counts, per bound
}

func (m *metricsScraper) scrape(ctx context.Context) (metricsSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s from %s", resp.Status, m.url)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("metrics from %s: %w", m.url, err)
	}
	out := metricsSample{}
	for name, family := range families {
		if strings.HasPrefix(name, m.prefix) {
			addFamily(out, name, family)
		}
	}
	return out, nil
}

func addFamily(out metricsSample, name string, family *dto.MetricFamily) {
	for _, metric := range family.GetMetric() {
		series := seriesName(name, metric.GetLabel())
		switch family.GetType() {
		case dto.MetricType_COUNTER:
			out[series] = &seriesSample{kind: "counter", value: metric.GetCounter().GetValue()}
		case dto.MetricType_GAUGE:
			out[series] = &seriesSample{kind: "gauge", value: metric.GetGauge().GetValue()}
		case dto.MetricType_HISTOGRAM:
			h := metric.GetHistogram()
			s := &seriesSample{kind: "histogram", count: float64(h.GetSampleCount()), sum: h.GetSampleSum()}
			for _, b := range h.GetBucket() {
				s.bounds = append(s.bounds, b.GetUpperBound())
				s.buckets = append(s.buckets, float64(b.GetCumulativeCount()))
			}
			out[series] = s
		}
	}
}

func seriesName(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, len(labels))
	for i, l := range labels {
		pairs[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// metricsBetween is what the series did from before to after, sorted by
// series; counters and histograms that did not move are left out.
func metricsBetween(before, after metricsSample) []Metric {
	var out []Metric
	for series, a := range after {
		b := before[series]
		if b == nil || b.kind != a.kind {
			b = &seriesSample{kind: a.kind}
		}
		if m, moved := seriesChange(series, b, a); moved {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(x, y Metric) int { return strings.Compare(x.Series, y.Series) })
	return out
}

func seriesChange(series string, before, after *seriesSample) (Metric, bool) {
	m := Metric{Series: series, Kind: after.kind}
	switch after.kind {
	case "gauge":
		m.Value = after.value
		return m, true
	case "counter":
		m.Value = after.value - before.value
		return m, m.Value != 0
	}
	m.Count = after.count - before.count
	if m.Count <= 0 {
		return m, false
	}
	m.Mean = (after.sum - before.sum) / m.Count
	deltas := bucketDeltas(before, after)
	m.P50, m.P99 = bucketQuantile(after.bounds, deltas, m.Count, 0.5), bucketQuantile(after.bounds, deltas, m.Count, 0.99)
	return m, true
}

// bucketDeltas is the cumulative count of each bucket of after, less
// before's when the buckets are the same.
func bucketDeltas(before, after *seriesSample) []float64 {
	out := slices.Clone(after.buckets)
	if slices.Equal(before.bounds, after.bounds) {
		for i := range out {
			out[i] -= before.buckets[i]
		}
	}
	return out
}

// bucketQuantile estimates quantile q of total observations from
// cumulative bucket counts, by linear interpolation within the bucket it
// falls in, as Prometheus's histogram_quantile does; observations above
// the last finite bound are reported as that bound.
func bucketQuantile(bounds, cumulative []float64, total, q float64) float64 {
	rank := q * total
	lower, below := 0.0, 0.0
	for i, upper := range bounds {
		if cumulative[i] >= rank && cumulative[i] > below {
			if math.IsInf(upper, 1) {
				return lower
			}
			return lower + (upper-lower)*(rank-below)/(cumulative[i]-below)
		}
		lower, below = upper, cumulative[i]
	}
	return lower
}
