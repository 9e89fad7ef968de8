package translate

import (
	"math"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// defaultThresholds are the circuit breaker limits of a cluster whose
// DestinationRule sets none: effectively unlimited, as Istio configures them
// (Envoy's own defaults of 1024 connections and 3 retries trip during normal
// endpoint churn).
func defaultThresholds() *clusterv3.CircuitBreakers_Thresholds {
	return &clusterv3.CircuitBreakers_Thresholds{
		MaxConnections:     wrapperspb.UInt32(math.MaxUint32),
		MaxPendingRequests: wrapperspb.UInt32(math.MaxUint32),
		MaxRequests:        wrapperspb.UInt32(math.MaxUint32),
		MaxRetries:         wrapperspb.UInt32(math.MaxUint32),
		TrackRemaining:     true,
	}
}

// applyConnectionPool sets circuit breakers, connect timeout, TCP keepalive
// and HTTP connection limits from a connectionPool block (nil means all
// defaults). Zero values mean "unset", as in Istio.
func applyConnectionPool(d *clusterDraft, pool *networking.ConnectionPoolSettings) {
	d.cluster.CircuitBreakers = &clusterv3.CircuitBreakers{
		Thresholds: []*clusterv3.CircuitBreakers_Thresholds{poolThresholds(pool)},
	}
	if t := pool.GetTcp().GetConnectTimeout(); t != nil {
		d.cluster.ConnectTimeout = t
	}
	applyTCPKeepalive(d, pool.GetTcp().GetTcpKeepalive())
	applyHTTPConnectionLimits(d, pool)
}

// poolThresholds maps connectionPool limits onto one threshold set.
func poolThresholds(pool *networking.ConnectionPoolSettings) *clusterv3.CircuitBreakers_Thresholds {
	th := defaultThresholds()
	if n := pool.GetTcp().GetMaxConnections(); n > 0 {
		th.MaxConnections = wrapperspb.UInt32(uint32(n))
	}
	if n := pool.GetHttp().GetHttp1MaxPendingRequests(); n > 0 {
		th.MaxPendingRequests = wrapperspb.UInt32(uint32(n))
	}
	if n := pool.GetHttp().GetHttp2MaxRequests(); n > 0 {
		th.MaxRequests = wrapperspb.UInt32(uint32(n))
	}
	if n := pool.GetHttp().GetMaxRetries(); n > 0 {
		th.MaxRetries = wrapperspb.UInt32(uint32(n))
	}
	return th
}

// applyTCPKeepalive turns on SO_KEEPALIVE for upstream connections; fields
// left unset keep the operating system's values.
func applyTCPKeepalive(d *clusterDraft, ka *networking.ConnectionPoolSettings_TCPSettings_TcpKeepalive) {
	if ka == nil {
		return
	}
	out := &corev3.TcpKeepalive{}
	if ka.GetProbes() > 0 {
		out.KeepaliveProbes = wrapperspb.UInt32(ka.GetProbes())
	}
	if t := ka.GetTime(); t != nil {
		out.KeepaliveTime = wrapperspb.UInt32(durationSeconds(t))
	}
	if t := ka.GetInterval(); t != nil {
		out.KeepaliveInterval = wrapperspb.UInt32(durationSeconds(t))
	}
	d.cluster.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: out}
}

// durationSeconds rounds a duration to whole seconds, at least one.
func durationSeconds(d *durationpb.Duration) uint32 {
	s := d.AsDuration().Round(1e9).Seconds()
	if s < 1 {
		return 1
	}
	return uint32(min(s, math.MaxUint32))
}

// applyHTTPConnectionLimits sets idle timeout, requests per connection,
// connection lifetime and HTTP/2 stream limit. The HTTP idle timeout wins
// over the TCP one.
func applyHTTPConnectionLimits(d *clusterDraft, pool *networking.ConnectionPoolSettings) {
	idle := pool.GetHttp().GetIdleTimeout()
	if idle == nil {
		idle = pool.GetTcp().GetIdleTimeout()
	}
	if idle != nil {
		d.commonHTTPOptions().IdleTimeout = idle
	}
	if n := pool.GetHttp().GetMaxRequestsPerConnection(); n > 0 {
		d.commonHTTPOptions().MaxRequestsPerConnection = wrapperspb.UInt32(uint32(n))
	}
	if t := pool.GetTcp().GetMaxConnectionDuration(); t != nil {
		d.commonHTTPOptions().MaxConnectionDuration = t
	}
}

// applyMaxConcurrentStreams limits streams per HTTP/2 connection; it must
// run after the upstream protocol is chosen, and only affects HTTP/2.
func applyMaxConcurrentStreams(d *clusterDraft, pool *networking.ConnectionPoolSettings) {
	n := pool.GetHttp().GetMaxConcurrentStreams()
	if n <= 0 || !d.isHTTP2() {
		return
	}
	d.http.GetExplicitHttpConfig().GetHttp2ProtocolOptions().MaxConcurrentStreams = wrapperspb.UInt32(uint32(n))
}
