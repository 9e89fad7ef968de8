package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// meshConfigYAML is the mesh configuration the shared isthmus runs with: a
// Zipkin tracing provider, used by Telemetry resources that name it.
const meshConfigYAML = `extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.default.svc.cluster.local, port: 9411}
`

// zipkinCollector records the spans Envoy reports (Zipkin v2 JSON).
type zipkinCollector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []map[string]any
}

func startZipkin(t *testing.T) *zipkinCollector {
	z := &zipkinCollector{}
	z.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var spans []map[string]any
		if r.URL.Path == "/api/v2/spans" && json.Unmarshal(body, &spans) == nil {
			z.mu.Lock()
			z.spans = append(z.spans, spans...)
			z.mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(z.Close)
	return z
}

// spanWithTag reports whether a span carries tag=value.
func (z *zipkinCollector) spanWithTag(tag, value string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, s := range z.spans {
		if tags, ok := s["tags"].(map[string]any); ok && tags[tag] == value {
			return true
		}
	}
	return false
}

// TestTelemetryTracingReportsSpans: a Telemetry resource selecting a client
// workload sends its spans, sampled at 100% and tagged with a literal, to
// the Zipkin provider of the mesh config; the collector receives them.
func TestTelemetryTracingReportsSpans(t *testing.T) {
	s := newScenario(t, "tracing", "v1")
	z := startZipkin(t)
	_, zport, _ := net.SplitHostPort(z.Listener.Addr().String())
	ip, err := localmesh.RandomLoopbackIP(servicePort)
	if err != nil {
		t.Fatal(err)
	}
	client := s.name + "-client"
	// The collector's service has a fixed name (the mesh config's): a rerun
	// (go test -count=N) must not find this run's definition of it.
	t.Cleanup(func() { _ = localmesh.RemoveFile(s.m.dir, s.name+".yaml") })
	s.apply(t, s.serviceEntry(), clientSidecarYAML(client, ip), fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: zipkin, namespace: default}
spec:
  hosts: [zipkin.default.svc.cluster.local]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 9411, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: %s}}]`, zport), fmt.Sprintf(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: %[1]s, namespace: default}
spec:
  selector: {matchLabels: {app: %[1]s}}
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 100
    customTags:
      cluster_name: {literal: {value: aws-east}}`, client))

	p := s.startClient(t, client, ip, clientNode(client, ip))
	s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Upstream == s.up("v1") })
	waitUntil(t, "a span tagged cluster_name=aws-east at the collector", func() bool {
		for range 5 { // Envoy reports in batches of 5 spans, or every 5 s
			_, _ = p.client.Get(context.Background(), s.host, "/traced", nil)
		}
		return z.spanWithTag("cluster_name", "aws-east")
	})
	if r := s.get(t, p, "/", nil); r.Upstream != s.up("v1") {
		t.Errorf("traffic after tracing: %d from %q", r.Status, r.Upstream)
	}
}
