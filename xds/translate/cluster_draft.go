package translate

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dnscommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/common/dns/v3"
	dnsclusterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/dns/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// HTTPProtocolOptionsKey is the typed_extension_protocol_options key under
// which a cluster carries its upstream HTTP settings.
const HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Defaults Istio's mesh configuration ships with.
const (
	defaultConnectTimeout = 10 * time.Second
	defaultDNSRefreshRate = 60 * time.Second
)

// clusterDraft is a cluster under construction. Its upstream HTTP options are
// kept apart and packed into typed_extension_protocol_options by finish, so
// each step can set one field of them without re-decoding an Any.
type clusterDraft struct {
	cluster *clusterv3.Cluster
	http    *httpv3.HttpProtocolOptions
	// dns is the name resolution of a STRICT_DNS or LOGICAL_DNS cluster
	// (see setDNS), nil for the others.
	dns *dnsclusterv3.DnsCluster
}

// DNSClusterType names Envoy's DNS cluster extension, which carries a DNS
// cluster's resolution settings (the cluster's own fields for them are
// deprecated).
const DNSClusterType = "envoy.cluster.dns"

func newDraft(name string, kind clusterv3.Cluster_DiscoveryType) *clusterDraft {
	return &clusterDraft{cluster: &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: kind},
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
	}}
}

// httpOptions returns the draft's upstream HTTP options, creating them.
func (d *clusterDraft) httpOptions() *httpv3.HttpProtocolOptions {
	if d.http == nil {
		d.http = &httpv3.HttpProtocolOptions{}
	}
	return d.http
}

// commonHTTPOptions returns the options shared by every HTTP version.
func (d *clusterDraft) commonHTTPOptions() *corev3.HttpProtocolOptions {
	opts := d.httpOptions()
	if opts.CommonHttpProtocolOptions == nil {
		opts.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{}
	}
	return opts.CommonHttpProtocolOptions
}

// useHTTP2 makes the cluster speak HTTP/2 to its endpoints.
func (d *clusterDraft) useHTTP2() {
	d.httpOptions().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
				Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
			},
		},
	}
}

// useDownstreamProtocol makes the cluster speak whatever HTTP version the
// request arrived with.
func (d *clusterDraft) useDownstreamProtocol() {
	d.httpOptions().UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
		UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
			HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		},
	}
}

// isHTTP2 reports whether the cluster was made to speak HTTP/2 explicitly.
func (d *clusterDraft) isHTTP2() bool {
	return d.http.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// finish packs the HTTP options (defaulting to HTTP/1.1, which Envoy
// requires once any option is set) and returns the cluster.
func (d *clusterDraft) finish() *clusterv3.Cluster {
	d.finishDNS()
	if d.http == nil {
		return d.cluster
	}
	if d.http.UpstreamProtocolOptions == nil {
		d.http.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
					HttpProtocolOptions: &corev3.Http1ProtocolOptions{},
				},
			},
		}
	}
	d.cluster.TypedExtensionProtocolOptions = map[string]*anypb.Any{HTTPProtocolOptionsKey: clusterAny(d.http)}
	return d.cluster
}

// commonLbConfig returns the cluster's common LB settings, creating them.
func (d *clusterDraft) commonLbConfig() *clusterv3.Cluster_CommonLbConfig {
	if d.cluster.CommonLbConfig == nil {
		d.cluster.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{}
	}
	return d.cluster.CommonLbConfig
}

// setDNS configures proxy-side name resolution, choosing the address family
// from the proxy's own addresses as Istio does, refreshing as the records'
// TTL says and at least every defaultDNSRefreshRate.
func (d *clusterDraft) setDNS(proxyIPs []string) {
	d.dns = &dnsclusterv3.DnsCluster{
		DnsLookupFamily: dnsFamily(proxyIPs),
		DnsRefreshRate:  durationpb.New(defaultDNSRefreshRate),
		RespectDnsTtl:   true,
	}
}

// finishDNS turns a DNS cluster into Envoy's DNS cluster extension:
// STRICT_DNS balances over every address, LOGICAL_DNS connects to one
// address at a time (all addresses in a single endpoint).
func (d *clusterDraft) finishDNS() {
	if d.dns == nil {
		return
	}
	d.dns.AllAddressesInSingleEndpoint = d.cluster.GetType() == clusterv3.Cluster_LOGICAL_DNS
	d.cluster.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
		Name:        DNSClusterType,
		TypedConfig: clusterAny(d.dns),
	}}
	d.dns = nil
}

// dnsFamily is V4_ONLY for IPv4-only proxies, V6_ONLY for IPv6-only ones and
// ALL for dual-stack proxies.
func dnsFamily(ips []string) dnscommonv3.DnsLookupFamily {
	v4, v6 := addressFamilies(ips)
	switch {
	case v6 && !v4:
		return dnscommonv3.DnsLookupFamily_V6_ONLY
	case v6 && v4:
		return dnscommonv3.DnsLookupFamily_ALL
	}
	return dnscommonv3.DnsLookupFamily_V4_ONLY
}

// setEDS makes the cluster fetch its endpoints over ADS under its own name.
func (d *clusterDraft) setEDS() {
	d.cluster.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{
		ServiceName: d.cluster.Name,
		EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			InitialFetchTimeout:   durationpb.New(0),
			ResourceApiVersion:    corev3.ApiVersion_V3,
		},
	}
}

// clusterAny wraps a message in an Any. Marshalling a well-formed generated
// message cannot fail, so a failure is a programming error.
func clusterAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err))
	}
	return a
}
