package caservice

import "github.com/prometheus/client_golang/prometheus"

const resultSigned = "signed"

type metrics struct {
	requests *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "isthmus_ca_requests_total",
		Help: "CreateCertificate requests by result (signed, unauthenticated, invalid_argument, permission_denied, internal) and reason.",
	}, []string{"result", "reason"})}
}

func (m *metrics) count(result, reason string) {
	m.requests.WithLabelValues(result, reason).Inc()
}

// Describe implements prometheus.Collector.
func (s *Service) Describe(ch chan<- *prometheus.Desc) { s.metrics.requests.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *Service) Collect(ch chan<- prometheus.Metric) { s.metrics.requests.Collect(ch) }
