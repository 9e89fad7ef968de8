package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestLocalityFailover: a client sidecar in us-east-1a sends all its
// traffic to the endpoint in its own zone while that endpoint is healthy;
// once outlier detection ejects it, traffic fails over to the region the
// DestinationRule names (us-central1), not to europe-west1.
func TestLocalityFailover(t *testing.T) {
	s := newScenario(t, "locality", "near", "failover", "far")
	ip, err := localmesh.RandomLoopbackIP(servicePort)
	if err != nil {
		t.Fatal(err)
	}
	client := s.name + "-client"
	s.apply(t, s.localityYAML(client, ip)...)
	node := clientNode(client, ip)
	node.Locality = "us-east-1/us-east-1a"
	p := s.startClient(t, client, ip, node)

	s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Upstream == s.up("near") })
	if counts := s.tally(t, p, 50, nil); counts[s.up("near")] != 50 {
		t.Fatalf("healthy: replies %v, want all 50 from %s", counts, s.up("near"))
	}
	s.upstreams["near"].Handle("/", localmesh.Behavior{Status: http.StatusServiceUnavailable})
	waitUntil(t, "traffic to fail over", func() bool {
		r, err := p.client.Get(context.Background(), s.host, "/", nil)
		return err == nil && r.Upstream == s.up("failover")
	})
	if counts := s.tally(t, p, 50, nil); counts[s.up("failover")] != 50 {
		t.Fatalf("after ejection: replies %v, want all 50 from %s", counts, s.up("failover"))
	}
}

// localityYAML declares the service with one endpoint per locality, the
// DestinationRule with outlier detection and a failover rule, and the
// client's Sidecar.
func (s *scenario) localityYAML(client, ip string) []string {
	localities := map[string]string{
		"near": "us-east-1/us-east-1a", "failover": "us-central1/us-central1-a", "far": "europe-west1/europe-west1-b",
	}
	se := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: default}
spec:
  hosts: [%s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: %d, name: http, protocol: HTTP}]
  endpoints:
`, s.name, s.host, servicePort)
	for _, v := range s.versions {
		se += fmt.Sprintf("  - {address: 127.0.0.1, ports: {http: %d}, locality: %s}\n", s.upstreams[v].Port(), localities[v])
	}
	return []string{se, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %s, namespace: default}
spec:
  host: %s
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}
    loadBalancer:
      localityLbSetting:
        failover: [{from: us-east-1, to: us-central1}]`, s.name, s.host),
		clientSidecarYAML(client, ip)}
}
