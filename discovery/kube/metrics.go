package kube

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes cluster statuses as Prometheus metrics.
type collector struct {
	statuses func() []Status
	now      func() time.Time
	synced   *prometheus.Desc
	lastSync *prometheus.Desc
	stale    *prometheus.Desc
}

// NewCollector exposes the statuses statuses returns (for example
// ClusterSet.Statuses), one series per cluster, read at each scrape:
//
//   - isthmus_cluster_synced: 1 when the cluster is listed and its watches
//     are healthy, 0 while it is stale or not listed yet;
//   - isthmus_cluster_last_sync_timestamp_seconds: when it was last listed
//     whole (Status.LastSync); absent before the first time;
//   - isthmus_cluster_stale_seconds: how long it has been stale, 0 when not.
func NewCollector(statuses func() []Status) prometheus.Collector {
	label := []string{"cluster"}
	return &collector{
		statuses: statuses,
		now:      time.Now,
		synced: prometheus.NewDesc("isthmus_cluster_synced",
			"1 when the cluster (Kubernetes, or Consul datacenter) is listed and its watches are healthy, 0 while it is stale or not listed yet.", label, nil),
		lastSync: prometheus.NewDesc("isthmus_cluster_last_sync_timestamp_seconds",
			"When the cluster (Kubernetes, or Consul datacenter) was last listed whole (first, after an outage, or when its state file was written).", label, nil),
		stale: prometheus.NewDesc("isthmus_cluster_stale_seconds",
			"How long the cluster's (Kubernetes, or Consul datacenter) services and endpoints have been served without a healthy watch, 0 when they are current.", label, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.synced
	ch <- c.lastSync
	ch <- c.stale
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, s := range c.statuses() {
		synced, stale := 0.0, 0.0
		if s.Synced && !s.Stale {
			synced = 1
		}
		if s.Stale {
			stale = max(now.Sub(s.Since).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.synced, prometheus.GaugeValue, synced, s.Cluster)
		ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, stale, s.Cluster)
		if !s.LastSync.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSync, prometheus.GaugeValue, float64(s.LastSync.UnixNano())/1e9, s.Cluster)
		}
	}
}
