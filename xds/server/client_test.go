package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/isthmus-mesh/isthmus/certs"
)

// waitLimit bounds every wait in these tests; reaching it is a failure,
// not a measurement.
const waitLimit = 10 * time.Second

// harness is a server on 127.0.0.1:0 and its monitoring endpoints.
type harness struct {
	t       *testing.T
	server  *Server
	addr    string
	monitor *httptest.Server
	served  chan error
}

func startServer(t *testing.T, translateFn TranslateFunc) *harness {
	t.Helper()
	return startServerWith(t, Options{Translate: translateFn, Secrets: testSecrets(t), InsecureIdentities: true})
}

// startServerWith starts a server with opts and the tests' debounce, and
// the tests' logger unless opts has one.
func startServerWith(t *testing.T, opts Options) *harness {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Debounce, opts.DebounceMax = 10*time.Millisecond, 50*time.Millisecond
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s := New(opts)
	h := &harness{t: t, server: s, addr: lis.Addr().String(), monitor: httptest.NewServer(s.Handler()), served: make(chan error, 1)}
	go func() { h.served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		h.monitor.Close()
	})
	return h
}

// testSecrets issues proxies certificates from a fresh self-signed CA.
func testSecrets(t testing.TB) SecretSource {
	return testCertSecrets(t)
}

// testCertSecrets is testSecrets as its concrete type.
func testCertSecrets(t testing.TB) *CertSecrets {
	t.Helper()
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return IssuerSecrets(certs.NewIssuer(ca, certs.IssuerOptions{Logger: slog.New(slog.DiscardHandler)}), certs.DefaultTrustDomain)
}

// testLogger logs to t until the test ends.
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testLogWriter) Write(b []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}

func (h *harness) dial() *grpc.ClientConn {
	h.t.Helper()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return conn
}

// get fetches a monitoring path and returns status and body.
func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get(h.monitor.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// eventually polls cond until it holds, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAcked waits until the proxy has acknowledged every version the
// server serves it, so every watch of its streams is open again.
func (h *harness) waitAcked(nodeID string) {
	h.t.Helper()
	eventually(h.t, "proxy to acknowledge its resources", func() bool { return h.acked(nodeID) })
}

// acked reports whether the proxy has acknowledged the version of each
// type it is served.
func (h *harness) acked(nodeID string) bool {
	ps := h.server.proxyByID(nodeID)
	if ps == nil || ps.servedResources() == nil {
		return false
	}
	st := h.server.proxyStatus(ps)
	for _, t := range []string{"cds", "eds", "lds", "rds"} {
		if st.Types[t].Served != st.Types[t].Acked {
			return false
		}
	}
	return true
}

// sotwClient speaks state-of-the-world ADS the way Envoy does: wildcard CDS
// and LDS, then EDS and RDS for the names they reference, ACKing each
// response.
type sotwClient struct {
	t        *testing.T
	close    context.CancelFunc // ends the stream
	stream   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node     *corev3.Node
	nodeSent bool
	recv     chan *discoveryv3.DiscoveryResponse
	ended    chan error
	last     map[string]*discoveryv3.DiscoveryResponse // last accepted response per type
	names    map[string][]string                       // subscribed names per type
	// held is what the client holds of each type subscribed to by name, as
	// Envoy does: responses of those types are not full state, and add to
	// it; a name no longer subscribed is dropped.
	held map[string]map[string]*anypb.Any
}

func newSotwClient(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) *sotwClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &sotwClient{t: t, close: cancel, stream: stream, node: node, recv: make(chan *discoveryv3.DiscoveryResponse, 100),
		ended: make(chan error, 1), last: map[string]*discoveryv3.DiscoveryResponse{}, names: map[string][]string{},
		held: map[string]map[string]*anypb.Any{}}
	go pump(stream.Recv, c.recv, c.ended)
	return c
}

func (c *sotwClient) send(req *discoveryv3.DiscoveryRequest) {
	c.t.Helper()
	if !c.nodeSent {
		req.Node, c.nodeSent = c.node, true
	}
	if err := c.stream.Send(req); err != nil {
		c.t.Fatalf("send %s: %v", req.TypeUrl, err)
	}
}

// subscribe asks for names of typeURL, carrying the last accepted version.
func (c *sotwClient) subscribe(typeURL string, names []string) {
	c.names[typeURL] = names
	last := c.last[typeURL]
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names,
		VersionInfo: last.GetVersionInfo(), ResponseNonce: last.GetNonce()})
}

// next returns the next response; the stream ending fails the test.
func (c *sotwClient) next() *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	select {
	case resp := <-c.recv:
		return resp
	case err := <-c.ended:
		c.t.Fatalf("stream ended: %v", err)
	case <-time.After(waitLimit):
		c.t.Fatal("no response")
	}
	return nil
}

// accept ACKs resp and subscribes to the EDS or RDS names it references.
func (c *sotwClient) accept(resp *discoveryv3.DiscoveryResponse) {
	c.t.Helper()
	c.last[resp.TypeUrl] = resp
	c.hold(resp)
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.TypeUrl, ResourceNames: c.names[resp.TypeUrl],
		VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce})
	c.subscribeDependents(resp.TypeUrl, resp.Resources)
}

func (c *sotwClient) subscribeDependents(typeURL string, resources []*anypb.Any) {
	c.t.Helper()
	switch typeURL {
	case resource.ClusterType:
		if names := edsNames(c.t, resources); !slices.Equal(names, c.names[resource.EndpointType]) {
			c.subscribe(resource.EndpointType, names)
		}
	case resource.ListenerType:
		if names := rdsNames(c.t, resources); !slices.Equal(names, c.names[resource.RouteType]) {
			c.subscribe(resource.RouteType, names)
		}
	}
	if typeURL == resource.ClusterType || typeURL == resource.ListenerType {
		names := sdsNames(c.t, c.last[resource.ClusterType].GetResources(), c.last[resource.ListenerType].GetResources())
		if !slices.Equal(names, c.names[resource.SecretType]) {
			c.subscribe(resource.SecretType, names)
		}
	}
}

// sdsNames lists, sorted, the secrets the clusters and listeners among
// resources reference, as Envoy subscribes to them.
func sdsNames(t *testing.T, resources ...[]*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, list := range resources {
		for _, a := range list {
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, secretReferences(m)...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// nack rejects resp, as Envoy does: the last accepted version, the
// rejected nonce and an error detail.
func (c *sotwClient) nack(resp *discoveryv3.DiscoveryResponse, msg string) {
	c.t.Helper()
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.TypeUrl, ResourceNames: c.names[resp.TypeUrl],
		VersionInfo: c.last[resp.TypeUrl].GetVersionInfo(), ResponseNonce: resp.Nonce,
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: msg}})
}

// hold adds what a response of a type subscribed to by name carries to
// what the client holds of it.
func (c *sotwClient) hold(resp *discoveryv3.DiscoveryResponse) {
	if resp.TypeUrl == resource.ClusterType || resp.TypeUrl == resource.ListenerType {
		return
	}
	held := c.held[resp.TypeUrl]
	if held == nil {
		held = map[string]*anypb.Any{}
		c.held[resp.TypeUrl] = held
	}
	for _, a := range resp.Resources {
		held[resourceNameOf(c.t, a)] = a
	}
	for name := range held {
		if !slices.Contains(c.names[resp.TypeUrl], name) {
			delete(held, name)
		}
	}
}

// holding lists, sorted, the names the client holds of typeURL (a type
// subscribed to by name).
func (c *sotwClient) holding(typeURL string) []string {
	var out []string
	for name := range c.held[typeURL] {
		if slices.Contains(c.names[typeURL], name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// resourceNameOf is the name of a load assignment, route configuration
// or secret.
func resourceNameOf(t *testing.T, a *anypb.Any) string {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	return cache.GetResourceName(m)
}

// sync subscribes like a starting Envoy and accepts responses until it
// holds CDS, EDS, LDS and RDS.
func (c *sotwClient) sync() {
	c.t.Helper()
	c.subscribe(resource.ClusterType, nil)
	c.subscribe(resource.ListenerType, nil)
	for !c.hasAll() {
		c.accept(c.next())
	}
}

func (c *sotwClient) hasAll() bool {
	for _, t := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType} {
		if c.last[t] == nil {
			return false
		}
	}
	return len(c.names[resource.SecretType]) == 0 || c.last[resource.SecretType] != nil
}

// edsNames lists the EDS names of the EDS clusters among resources.
func edsNames(t *testing.T, resources []*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, a := range resources {
		c := &clusterv3.Cluster{}
		if err := a.UnmarshalTo(c); err != nil {
			t.Fatal(err)
		}
		if c.GetType() == clusterv3.Cluster_EDS {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return names
}

// rdsNames lists the route configurations the listeners take over RDS.
func rdsNames(t *testing.T, resources []*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, a := range resources {
		l := &listenerv3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			t.Fatal(err)
		}
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) == nil && hcm.GetRds() != nil {
					names = append(names, hcm.GetRds().RouteConfigName)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// deltaClient speaks delta ADS the way Envoy does.
type deltaClient struct {
	t          *testing.T
	close      context.CancelFunc // ends the stream
	stream     discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	node       *corev3.Node
	nodeSent   bool
	recv       chan *discoveryv3.DeltaDiscoveryResponse
	ended      chan error
	subscribed map[string][]string
	resources  map[string]map[string]*discoveryv3.Resource // type → name → resource held
}

func newDeltaClient(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) *deltaClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &deltaClient{t: t, close: cancel, stream: stream, node: node, recv: make(chan *discoveryv3.DeltaDiscoveryResponse, 100),
		ended: make(chan error, 1), subscribed: map[string][]string{}, resources: map[string]map[string]*discoveryv3.Resource{}}
	go pump(stream.Recv, c.recv, c.ended)
	return c
}

func (c *deltaClient) send(req *discoveryv3.DeltaDiscoveryRequest) {
	c.t.Helper()
	if !c.nodeSent {
		req.Node, c.nodeSent = c.node, true
	}
	if err := c.stream.Send(req); err != nil {
		c.t.Fatalf("send %s: %v", req.TypeUrl, err)
	}
}

// subscribe moves the subscription of typeURL to names; nil names on the
// first request of a type is a wildcard subscription.
func (c *deltaClient) subscribe(typeURL string, names []string) {
	old := c.subscribed[typeURL]
	c.subscribed[typeURL] = names
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL}
	for _, n := range names {
		if !slices.Contains(old, n) {
			req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, n)
		}
	}
	for _, n := range old {
		if !slices.Contains(names, n) {
			req.ResourceNamesUnsubscribe = append(req.ResourceNamesUnsubscribe, n)
		}
	}
	c.send(req)
}

func (c *deltaClient) next() *discoveryv3.DeltaDiscoveryResponse {
	c.t.Helper()
	select {
	case resp := <-c.recv:
		return resp
	case err := <-c.ended:
		c.t.Fatalf("stream ended: %v", err)
	case <-time.After(waitLimit):
		c.t.Fatal("no response")
	}
	return nil
}

// accept applies resp, ACKs it and subscribes to the names it references.
func (c *deltaClient) accept(resp *discoveryv3.DeltaDiscoveryResponse) {
	c.t.Helper()
	held := c.resources[resp.TypeUrl]
	if held == nil {
		held = map[string]*discoveryv3.Resource{}
		c.resources[resp.TypeUrl] = held
	}
	for _, r := range resp.Resources {
		held[r.Name] = r
	}
	for _, n := range resp.RemovedResources {
		delete(held, n)
	}
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce})
	var all []*anypb.Any
	for _, r := range held {
		all = append(all, r.Resource)
	}
	switch resp.TypeUrl {
	case resource.ClusterType:
		if names := edsNames(c.t, all); !slices.Equal(names, c.subscribed[resource.EndpointType]) {
			c.subscribe(resource.EndpointType, names)
		}
	case resource.ListenerType:
		if names := rdsNames(c.t, all); !slices.Equal(names, c.subscribed[resource.RouteType]) {
			c.subscribe(resource.RouteType, names)
		}
	}
}

func (c *deltaClient) nack(resp *discoveryv3.DeltaDiscoveryResponse, msg string) {
	c.t.Helper()
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce,
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: msg}})
}

// sync subscribes like a starting Envoy and accepts responses until it
// holds resources of CDS, EDS, LDS and RDS.
func (c *deltaClient) sync() {
	c.t.Helper()
	c.subscribe(resource.ClusterType, nil)
	c.subscribe(resource.ListenerType, nil)
	for !c.hasAll() {
		c.accept(c.next())
	}
}

func (c *deltaClient) hasAll() bool {
	for _, t := range []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType} {
		if len(c.resources[t]) == 0 {
			return false
		}
	}
	return true
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Counter != nil {
		return out.Counter.GetValue()
	}
	return out.Gauge.GetValue()
}

// pump forwards every message recv returns to out until it fails, then
// reports the error on ended; it serves both the SotW and delta clients.
func pump[T any](recv func() (T, error), out chan<- T, ended chan<- error) {
	for {
		msg, err := recv()
		if err != nil {
			ended <- err
			return
		}
		out <- msg
	}
}
