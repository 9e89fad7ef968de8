package translate

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// inboundWorld is the ratings service (HTTP 9080 → workload port 8080)
// with one endpoint per address given.
func inboundWorld(t *testing.T, addresses ...string) *meshWorld {
	w := newMeshWorld(t)
	svc := w.service("ratings.default.svc.cluster.local", "default", []string{"10.96.0.11"}, httpPort(9080))
	for _, a := range addresses {
		w.endpoint(svc, &discovery.Endpoint{Address: a, Port: 8080, ServicePort: 9080})
	}
	return w
}

// proxyWith is a REDIRECT-captured sidecar holding ips.
func proxyWith(ips ...string) *model.Proxy {
	p := sidecarProxy("default", nil)
	p.IPAddresses = ips
	return p
}

// expectOriginalDst checks that c sends each connection to where the caller
// addressed it, from the given source addresses (the first the main one).
func expectOriginalDst(t *testing.T, c *clusterv3.Cluster, sources ...string) {
	t.Helper()
	if c.GetType() != clusterv3.Cluster_ORIGINAL_DST || c.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
		t.Errorf("%s: type %s, lb policy %s; want ORIGINAL_DST, CLUSTER_PROVIDED", c.GetName(), c.GetType(), c.GetLbPolicy())
	}
	if c.GetLoadAssignment() != nil {
		t.Errorf("%s: has fixed endpoints %v, want the original destination", c.GetName(), c.GetLoadAssignment())
	}
	bind := c.GetUpstreamBindConfig()
	got := []string{bind.GetSourceAddress().GetAddress()}
	for _, extra := range bind.GetExtraSourceAddresses() {
		got = append(got, extra.GetAddress().GetAddress())
	}
	if !slices.Equal(got, sources) {
		t.Errorf("%s: connections come from %v, want %v", c.GetName(), got, sources)
	}
}

func TestInboundClusterForwardsToTheOriginalDestination(t *testing.T) {
	w := inboundWorld(t, "10.0.0.5", "10.0.0.6")
	c := findCluster(t, w.translate(proxyWith("10.0.0.5")), "inbound|8080||")
	expectOriginalDst(t, c, InboundPassthroughBindIPv4)

	other := w.translate(proxyWith("10.0.0.9"))
	if slices.ContainsFunc(other.Clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == "inbound|8080||" }) {
		t.Error("a proxy that is not an endpoint of the service has an inbound cluster for it")
	}
}

func TestInboundClusterSourceFollowsTheProxyAddressFamilies(t *testing.T) {
	for name, tc := range map[string]struct {
		ips     []string
		sources []string
	}{
		"IPv6 only":  {ips: []string{"fd00::5"}, sources: []string{InboundPassthroughBindIPv6}},
		"dual stack": {ips: []string{"10.0.0.5", "fd00::5"}, sources: []string{InboundPassthroughBindIPv4, InboundPassthroughBindIPv6}},
	} {
		t.Run(name, func(t *testing.T) {
			w := inboundWorld(t, tc.ips[0])
			expectOriginalDst(t, findCluster(t, w.translate(proxyWith(tc.ips...)), "inbound|8080||"), tc.sources...)
		})
	}
}

func TestNoInboundSideWithoutCaptureOrIngress(t *testing.T) {
	w := inboundWorld(t, "10.0.0.5")
	p := proxyWith("10.0.0.5")
	p.InterceptionMode = model.InterceptNone
	res := w.translate(p)
	for _, c := range res.Clusters {
		if c.GetName() == "inbound|8080||" {
			t.Errorf("capture NONE without Sidecar ingress: nothing delivers inbound traffic, yet %s is built", c.GetName())
		}
	}
	if names := listenerNames(res); slices.Contains(names, "0.0.0.0_8080") || slices.Contains(names, "virtualInbound") {
		t.Errorf("capture NONE without Sidecar ingress: inbound listeners %v", names)
	}
}

func TestSidecarIngressDefaultEndpointPicksTheTarget(t *testing.T) {
	w := inboundWorld(t, "10.0.0.5")
	w.object(policy.KindSidecar, "default", "default", `
ingress:
- port: {number: 9080, protocol: HTTP, name: http}
  defaultEndpoint: 127.0.0.1:8080
- port: {number: 9090, protocol: TCP, name: tcp-pod}
  defaultEndpoint: 0.0.0.0:9091
- port: {number: 9100, protocol: TCP, name: tcp-orig}
egress: [{hosts: ["./*"]}]`)
	res := w.translate(proxyWith("10.0.0.5"))

	loopback := findCluster(t, res, "inbound|9080||")
	if got := endpointAddresses(loopback.GetLoadAssignment()); loopback.GetType() != clusterv3.Cluster_STATIC || !slices.Equal(got, []string{InboundLocalhost}) {
		t.Errorf("127.0.0.1:8080: %s to %v, want STATIC to %s", loopback.GetType(), got, InboundLocalhost)
	}
	if loopback.GetUpstreamBindConfig() != nil {
		t.Errorf("127.0.0.1:8080: bound to %v, want no source address", loopback.GetUpstreamBindConfig())
	}

	pod := findCluster(t, res, "inbound|9090||")
	got := endpointAddresses(pod.GetLoadAssignment())
	if source := pod.GetUpstreamBindConfig().GetSourceAddress().GetAddress(); !slices.Equal(got, []string{"10.0.0.5"}) || source != InboundPassthroughBindIPv4 {
		t.Errorf("0.0.0.0:9091: to %v from %q, want the workload IP from %s", got, source, InboundPassthroughBindIPv4)
	}

	expectOriginalDst(t, findCluster(t, res, "inbound|9100||"), InboundPassthroughBindIPv4)
}
