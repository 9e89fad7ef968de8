package translate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestGatewayRoutesRealTraffic runs the listeners, routes and clusters a
// gateway proxy is given in a real Envoy (statically: listeners moved to
// 127.0.0.1, each RDS route configuration inlined, EDS clusters made
// STATIC with their endpoints) and sends requests through it to a backend
// on loopback: the gateway's host reaches the backend over HTTP and, with
// its SNI, over HTTPS; an unknown host gets a 404.
func TestGatewayRoutesRealTraffic(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend saw %s %s", r.Host, r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	certDir := t.TempDir()
	caPool := writeServerCert(t, certDir, "secure.example.com")
	idx := gatewayIndex(t, fmt.Sprintf(gatewayTrafficConfig, backendPort(t, backend), certDir, certDir))
	res := translateGateway(t, idx, routerProxy(t, "istio-system", map[string]any{"istio": "ingressgateway"}, nil))

	addrs := startGatewayEnvoy(t, res)
	plain, secure := addrs["0.0.0.0_18080"], addrs["0.0.0.0_18443"]
	if plain == "" || secure == "" {
		t.Fatalf("gateway listeners %v, want 0.0.0.0_18080 and 0.0.0.0_18443", addrs)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	expectResponse(t, client, "http://"+plain+"/hello", "web.example.com", 200, "backend saw web.example.com /hello")
	expectResponse(t, client, "http://"+plain+"/hello", "web.example.com:18080", 200, "backend saw web.example.com:18080 /hello")
	expectResponse(t, client, "http://"+plain+"/hello", "unknown.example.com", 404, "")

	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: caPool, ServerName: "secure.example.com", MinVersion: tls.VersionTLS12},
	}}
	expectResponse(t, tlsClient, "https://"+secure+"/s", "secure.example.com", 200, "backend saw secure.example.com /s")
}

// gatewayTrafficConfig: the backend's port, then twice the certificate
// directory.
const gatewayTrafficConfig = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: %d}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 18080, name: http, protocol: HTTP}
    hosts: [web.example.com]
  - port: {number: 18443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, serverCertificate: %s/cert.pem, privateKey: %s/key.pem}
    hosts: [secure.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com, secure.example.com]
  gateways: [istio-system/public]
  http:
  - route: [{destination: {host: web}}]
`

func backendPort(t *testing.T, s *httptest.Server) int {
	t.Helper()
	_, port, err := net.SplitHostPort(s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return n
}

func expectResponse(t *testing.T, client *http.Client, url, host string, status int, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || (body != "" && string(got) != body) {
		t.Errorf("GET %s (Host %s): %d %q, want %d %q", url, host, resp.StatusCode, got, status, body)
	}
}

// startGatewayEnvoy runs Envoy on res made static and returns each
// listener's address by name.
func startGatewayEnvoy(t *testing.T, res *Resources) map[string]string {
	t.Helper()
	b := staticGatewayBootstrap(t, res)
	js, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := localmesh.StartEnvoy(ctx, localmesh.EnvoyOptions{Name: "gateway", Bin: envoyBinary(t), Bootstrap: js, LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	addrs, err := e.ListenerAddresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// staticGatewayBootstrap holds res statically, as described on
// TestGatewayRoutesRealTraffic.
func staticGatewayBootstrap(t *testing.T, res *Resources) *bootstrapv3.Bootstrap {
	t.Helper()
	routes := map[string]*routev3.RouteConfiguration{}
	for _, rc := range res.Routes {
		routes[rc.GetName()] = rc
	}
	static := &bootstrapv3.Bootstrap_StaticResources{}
	for _, l := range res.Listeners {
		static.Listeners = append(static.Listeners, loopbackListener(t, l, routes))
	}
	endpoints := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, cla := range res.Endpoints {
		endpoints[cla.GetClusterName()] = cla
	}
	for _, c := range res.Clusters {
		static.Clusters = append(static.Clusters, staticCluster(c, endpoints[c.GetName()]))
	}
	return &bootstrapv3.Bootstrap{
		Node:            &corev3.Node{Id: "router~127.0.0.1~gateway.istio-system~istio-system.svc.cluster.local", Cluster: "gateway"},
		Admin:           &bootstrapv3.Admin{Address: socketAddress("127.0.0.1", 0)},
		StaticResources: static,
	}
}

// loopbackListener is l on 127.0.0.1 (a port Envoy picks) with its route
// configurations inline.
func loopbackListener(t *testing.T, l *listenerv3.Listener, routes map[string]*routev3.RouteConfiguration) *listenerv3.Listener {
	t.Helper()
	out := proto.Clone(l).(*listenerv3.Listener)
	out.Address = socketAddress("127.0.0.1", 0)
	for _, fc := range out.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			hcm := &hcmv3.HttpConnectionManager{}
			if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
				continue
			}
			rc := routes[hcm.GetRds().GetRouteConfigName()]
			if rc == nil {
				t.Fatalf("listener %s: no route configuration %q", l.GetName(), hcm.GetRds().GetRouteConfigName())
			}
			hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
			f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: typedAny(hcm)}
		}
	}
	return out
}

// staticCluster makes an EDS cluster STATIC with its load assignment.
func staticCluster(c *clusterv3.Cluster, cla *endpointv3.ClusterLoadAssignment) *clusterv3.Cluster {
	if c.GetType() != clusterv3.Cluster_EDS {
		return c
	}
	out := proto.Clone(c).(*clusterv3.Cluster)
	out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
	out.EdsClusterConfig = nil
	out.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: out.GetName()}
	if cla != nil {
		out.LoadAssignment.Endpoints = cla.GetEndpoints()
	}
	return out
}

// writeServerCert writes cert.pem and key.pem, a certificate for host
// from a throwaway CA, into dir and returns a pool trusting that CA.
func writeServerCert(t *testing.T, dir, host string) *x509.CertPool {
	t.Helper()
	ca, err := localmesh.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{host}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca.Pool()
}
