package rbac

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/isthmus-mesh/isthmus/policy"
)

// SystemCABundle verifies the servers of https jwksUris.
const SystemCABundle = "/etc/ssl/certs/ca-certificates.crt"

// jwksConnectTimeout is Istio's default cluster connect timeout.
const jwksConnectTimeout = 10 * time.Second

// jwksEndpoint is where a jwksUri is fetched from.
type jwksEndpoint struct {
	host string // name or IP, without brackets
	port uint32
	tls  bool
}

// parseJWKSURI reads the host and port of a jwksUri, the port defaulting
// to 80 for http and 443 for https, as Istio does.
func parseJWKSURI(uri string) (jwksEndpoint, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return jwksEndpoint{}, fmt.Errorf("jwksUri %q: %w", uri, err)
	}
	ep := jwksEndpoint{host: u.Hostname(), port: 80}
	switch u.Scheme {
	case "http":
	case "https":
		ep.tls, ep.port = true, 443
	default:
		return jwksEndpoint{}, fmt.Errorf("jwksUri %q: scheme must be http or https", uri)
	}
	if ep.host == "" {
		return jwksEndpoint{}, fmt.Errorf("jwksUri %q has no host", uri)
	}
	if p := u.Port(); p != "" {
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 {
			return jwksEndpoint{}, fmt.Errorf("jwksUri %q: bad port %q", uri, p)
		}
		ep.port = uint32(port)
	}
	return ep, nil
}

// clusterName is the cluster Istio fetches a remote JWKS through:
// "outbound|PORT||HOST".
func (e jwksEndpoint) clusterName() string {
	return fmt.Sprintf("outbound|%d||%s", e.port, e.host)
}

// JWKSClusters returns the clusters through which Envoy fetches the
// jwksUris of requestAuthns, one per distinct host and port, sorted by
// name and named as JWTFilter refers to them ("outbound|PORT||HOST"). They
// must be sent to every proxy that receives JWTFilter's filter. An IP host
// gives a STATIC cluster, a name a LOGICAL_DNS one; https URIs get TLS
// verified against SystemCABundle and the host name.
func JWKSClusters(requestAuthns []*policy.Object) []*clusterv3.Cluster {
	return jwksClusters(requestAuthns, SystemCABundle)
}

func jwksClusters(requestAuthns []*policy.Object, caFile string) []*clusterv3.Cluster {
	seen := map[string]bool{}
	var out []*clusterv3.Cluster
	for _, r := range jwtRules(requestAuthns) {
		if r.GetJwks() != "" || r.GetJwksUri() == "" {
			continue
		}
		ep, err := parseJWKSURI(r.GetJwksUri())
		if err != nil || seen[ep.clusterName()] {
			continue
		}
		seen[ep.clusterName()] = true
		out = append(out, ep.cluster(caFile))
	}
	slices.SortFunc(out, func(a, b *clusterv3.Cluster) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func (e jwksEndpoint) cluster(caFile string) *clusterv3.Cluster {
	name := e.clusterName()
	discovery := clusterv3.Cluster_LOGICAL_DNS
	if e.isIP() {
		discovery = clusterv3.Cluster_STATIC
	}
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: discovery},
		ConnectTimeout:       durationpb.New(jwksConnectTimeout),
		DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: e.address()}},
			}}}},
		},
	}
	if e.tls {
		c.TransportSocket = &corev3.TransportSocket{
			Name:       wellknown.TransportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typedAny(e.tlsContext(caFile))},
		}
	}
	return c
}

func (e jwksEndpoint) isIP() bool {
	_, err := netip.ParseAddr(e.host)
	return err == nil
}

func (e jwksEndpoint) address() *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: e.host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: e.port},
	}}}
}

// tlsContext verifies the server against caFile and the URI's host (a DNS
// or IP subject alternative name); a host name is also sent as SNI.
func (e jwksEndpoint) tlsContext(caFile string) *tlsv3.UpstreamTlsContext {
	san := &tlsv3.SubjectAltNameMatcher{
		SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: e.host}},
	}
	sni := e.host
	if e.isIP() {
		san.SanType, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ""
	}
	return &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa:                 &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: caFile}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san},
			}},
		},
	}
}
