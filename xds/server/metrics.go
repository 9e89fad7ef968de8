package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Reasons a proxy's new resources were not served, the "reason" label of
// isthmus_xds_translation_errors_total.
const (
	reasonTranslate    = "translate"    // translation returned an error or panicked
	reasonInvalid      = "invalid"      // a resource failed validation
	reasonInconsistent = "inconsistent" // EDS/RDS/SDS references do not match the resources
	reasonSecrets      = "secrets"      // the proxy's certificate could not be had
	reasonCache        = "cache"        // the cache refused the resources
)

// metrics are the server's Prometheus metrics, in their own registry.
type metrics struct {
	registry        *prometheus.Registry
	connected       prometheus.Gauge
	pushes          *prometheus.CounterVec
	pushDuration    prometheus.Histogram
	ackLatency      *prometheus.HistogramVec
	nacks           *prometheus.CounterVec
	rejectedNodes   *prometheus.CounterVec
	authFailures    *prometheus.CounterVec
	translateErrors *prometheus.CounterVec
	configErrors    prometheus.Gauge
	snapshotVersion prometheus.Gauge
	views           *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "isthmus_xds_connected_proxies",
			Help: "Proxies with at least one open xDS stream.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_xds_pushes_total",
			Help: "New versions of one xDS type set for one proxy.",
		}, []string{"type"}),
		pushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "isthmus_xds_push_duration_seconds",
			Help:    "Time from the end of the debounce to every connected proxy's resources being set.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "isthmus_xds_push_ack_seconds",
			Help:    "Time from a proxy's resources being set to the proxy acknowledging that version.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_xds_nacks_total",
			Help: "Responses a proxy rejected.",
		}, []string{"type"}),
		rejectedNodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_xds_rejected_nodes_total",
			Help: "xDS streams ended with InvalidArgument for their node: over a size limit (id_too_long, metadata_value_too_large, node_too_large) or without a node id that parses (invalid).",
		}, []string{"reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_xds_auth_failures_total",
			Help: "xDS streams on the secure port refused before any response: no or a bad credential (the authenticator's reason), or node metadata naming another identity than the proven one (identity_mismatch).",
		}, []string{"reason"}),
		translateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_xds_translation_errors_total",
			Help: "Proxy updates not served because translation failed; the proxy keeps its previous resources.",
		}, []string{"reason"}),
		configErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "isthmus_config_errors",
			Help: "Configuration problems in the last load of the configuration.",
		}),
		snapshotVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "isthmus_snapshot_version",
			Help: "Version of the last snapshot pushed to proxies.",
		}),
		views: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isthmus_xds_push_views_total",
			Help: "Outbound views of pushes: kept from the previous snapshot, because the change could not reach them; reassembled from their previous translation with the service ports' clusters the change reached built again; or built.",
		}, []string{"outcome"}),
	}
	for _, l := range nodeLimits {
		m.rejectedNodes.WithLabelValues(l.reason)
	}
	m.rejectedNodes.WithLabelValues(reasonInvalidNode)
	m.authFailures.WithLabelValues(reasonIdentityMismatch)
	m.registry.MustRegister(m.connected, m.pushes, m.pushDuration, m.ackLatency, m.nacks, m.rejectedNodes, m.authFailures,
		m.translateErrors, m.configErrors, m.snapshotVersion, m.views,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
