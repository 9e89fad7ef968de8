package rbac

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
	"github.com/isthmus-mesh/isthmus/policy"
)

// seedFile is the user configuration shipped as a seed: STRICT mTLS and a
// policy allowing the frontend's GET /api/v1/* on the backend.
const seedFile = "../../../policy/testdata/seeds/mtls-and-authorization.yaml"

// Peer identities of the mTLS tests.
const (
	frontendID = "spiffe://cluster.local/ns/frontend/sa/frontend-service"
	intruderID = "spiffe://cluster.local/ns/other/sa/intruder"
)

// httpScenario is one HTTP listener: the policies of a workload in
// namespace foo labelled app=backend (unless config comes from a file).
type httpScenario struct {
	policies string         // inline Istio YAML, or ""
	config   *policy.Config // used when policies is ""
	ns       string
	labels   map[string]string
	mtls     bool
}

// httpCase is one request and the status Envoy must answer.
type httpCase struct {
	listener string
	peer     string // SPIFFE identity presented; "" sends plaintext
	method   string
	path     string
	host     string
	header   [2]string
	want     int
}

func TestEnvoyEnforcesHTTPPolicies(t *testing.T) {
	pki := newTestPKI(t)
	scenarios := map[string]httpScenario{
		"allow-get-api": {policies: `
spec:
  rules:
  - to: [{operation: {methods: [GET], paths: ["/api/v1/*"]}}]`},
		"deny-header": {policies: `
spec:
  action: DENY
  rules:
  - when: [{key: "request.headers[x-block]", values: ["yes"]}]`},
		"allow-nothing":    {policies: `spec: {}`},
		"allow-everything": {policies: `spec: {rules: [{}]}`},
		"path-template": {policies: `
spec:
  rules:
  - to: [{operation: {paths: ["/api/{*}/items"]}}]`},
		"hosts": {policies: `
spec:
  rules:
  - to: [{operation: {hosts: ["Example.com"]}}]`},
		"deny-dry-run": {policies: `
metadata: {annotations: {istio.io/dry-run: "true"}}
spec: {action: DENY, rules: [{}]}`},
		"custom-fails-closed": {policies: `
spec:
  action: CUSTOM
  provider: {name: authz}
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]`},
		"jwt-deny-no-token": {policies: `
spec:
  action: DENY
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/secure*"]}}]`},
		"seed-plaintext": {config: loadConfig(t, seedFile), ns: "default", labels: map[string]string{"app": "backend-service"}},
		"seed-mtls":      {config: loadConfig(t, seedFile), ns: "default", labels: map[string]string{"app": "backend-service"}, mtls: true},
		"namespaces-mtls": {mtls: true, policies: `
spec:
  rules:
  - from: [{source: {namespaces: ["front*"]}}]`},
	}
	cases := []httpCase{
		{listener: "allow-get-api", method: "GET", path: "/api/v1/x", want: 200},
		{listener: "allow-get-api", method: "POST", path: "/api/v1/x", want: 403},
		{listener: "allow-get-api", method: "GET", path: "/other", want: 403},
		{listener: "allow-get-api", method: "GET", path: "/api/v1/x?q=1", want: 200},
		{listener: "deny-header", method: "GET", path: "/", header: [2]string{"X-Block", "yes"}, want: 403},
		{listener: "deny-header", method: "GET", path: "/", header: [2]string{"X-Block", "no"}, want: 200},
		{listener: "deny-header", method: "GET", path: "/", want: 200},
		{listener: "allow-nothing", method: "GET", path: "/", want: 403},
		{listener: "allow-everything", method: "DELETE", path: "/anything", want: 200},
		{listener: "path-template", method: "GET", path: "/api/v2/items", want: 200},
		{listener: "path-template", method: "GET", path: "/api/v2/x/items", want: 403},
		{listener: "hosts", method: "GET", path: "/", host: "example.COM", want: 200},
		{listener: "hosts", method: "GET", path: "/", host: "example.com:8080", want: 403},
		{listener: "deny-dry-run", method: "GET", path: "/", want: 200},
		{listener: "custom-fails-closed", method: "GET", path: "/admin/users", want: 403},
		{listener: "custom-fails-closed", method: "GET", path: "/public", want: 200},
		{listener: "jwt-deny-no-token", method: "GET", path: "/secure/data", want: 403},
		{listener: "jwt-deny-no-token", method: "GET", path: "/open", want: 200},
		{listener: "seed-plaintext", method: "GET", path: "/api/v1/x", want: 403},
		{listener: "seed-mtls", peer: frontendID, method: "GET", path: "/api/v1/x", want: 200},
		{listener: "seed-mtls", peer: frontendID, method: "POST", path: "/api/v1/x", want: 403},
		{listener: "seed-mtls", peer: frontendID, method: "GET", path: "/api/v2/x", want: 403},
		{listener: "seed-mtls", peer: intruderID, method: "GET", path: "/api/v1/x", want: 403},
		{listener: "namespaces-mtls", peer: frontendID, method: "GET", path: "/", want: 200},
		{listener: "namespaces-mtls", peer: intruderID, method: "GET", path: "/", want: 403},
	}
	tb := newTestBootstrap()
	for name, s := range scenarios {
		var tlsCtx = mtlsContext(pki)
		if !s.mtls {
			tlsCtx = nil
		}
		tb.addHTTP(name, s.filters(t), tlsCtx)
	}
	addrs := startEnvoy(t, tb)
	clients := map[string]*http.Client{"": httpClient(nil)}
	for _, id := range []string{frontendID, intruderID} {
		clients[id] = httpClient(pki.clientTLS(t, id))
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s %s %s", c.listener, c.method, c.path, c.peer), func(t *testing.T) {
			c.check(t, clients[c.peer], addrs[c.listener], scenarios[c.listener].mtls)
		})
	}
}

// filters translates the scenario's policies for its workload.
func (s httpScenario) filters(t *testing.T) []*hcmv3.HttpFilter {
	t.Helper()
	cfg, ns, labels := s.config, s.ns, s.labels
	if s.policies != "" {
		cfg = decodePolicies(t, inlinePolicy(s.policies))
		ns, labels = "foo", map[string]string{"app": "backend"}
	}
	f := HTTPFilters(For(cfg, ns, labels), "cluster.local")
	if len(f) == 0 {
		t.Fatal("test setup: no RBAC filter generated")
	}
	return f
}

// inlinePolicy completes a policy body with the header of an
// AuthorizationPolicy in namespace foo; a metadata line extends it.
func inlinePolicy(body string) string {
	meta := "metadata: {name: p, namespace: foo}"
	if rest, ok := strings.CutPrefix(strings.TrimSpace(body), "metadata: {"); ok {
		meta = "metadata: {name: p, namespace: foo, " + rest[:strings.Index(rest, "\n")]
		body = rest[strings.Index(rest, "\n")+1:]
	}
	return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" + meta + "\n" + strings.TrimSpace(body) + "\n"
}

func (c httpCase) check(t *testing.T, client *http.Client, addr string, mtls bool) {
	t.Helper()
	scheme := "http"
	if mtls {
		scheme = "https"
	}
	req, err := http.NewRequest(c.method, scheme+"://"+addr+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	if c.header[0] != "" {
		req.Header.Set(c.header[0], c.header[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != c.want {
		t.Errorf("%s %s (host %q, peer %q) = %d %q, want %d", c.method, c.path, c.host, c.peer, resp.StatusCode, body, c.want)
	}
	if c.want == 403 && !strings.Contains(string(body), "RBAC: access denied") {
		t.Errorf("403 body %q does not come from the RBAC filter", body)
	}
}

func httpClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true},
	}
}

func TestEnvoyEnforcesTCPPolicies(t *testing.T) {
	echo := startEcho(t)
	scenarios := map[string]struct {
		policies string
		echoes   bool
	}{
		"allow-loopback":    {`spec: {rules: [{from: [{source: {ipBlocks: ["127.0.0.1"]}}]}]}`, true},
		"allow-10-8":        {`spec: {rules: [{from: [{source: {ipBlocks: ["10.0.0.0/8"]}}]}]}`, false},
		"allow-not-10-8":    {`spec: {rules: [{from: [{source: {notIpBlocks: ["10.0.0.0/8"]}}]}]}`, true},
		"allow-http-method": {`spec: {rules: [{to: [{operation: {methods: [GET]}}]}]}`, false},
		"deny-http-method":  {`spec: {action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]}`, false},
		"deny-other-port":   {`spec: {action: DENY, rules: [{to: [{operation: {methods: [POST], ports: ["1"]}}]}]}`, true},
	}
	tb := newTestBootstrap()
	tb.addCluster("echo", echo)
	for name, s := range scenarios {
		cfg := decodePolicies(t, inlinePolicy(s.policies))
		tb.addTCP(name, NetworkFilters(For(cfg, "foo", nil), "cluster.local"), "echo")
	}
	addrs := startEnvoy(t, tb)
	for name, s := range scenarios {
		t.Run(name, func(t *testing.T) { checkEcho(t, addrs[name], s.echoes) })
	}
}

// checkEcho sends a line through Envoy: it must come back when allowed,
// and the connection must close without it when denied.
func checkEcho(t *testing.T, addr string, allowed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	const msg = "ping\n"
	_, _ = conn.Write([]byte(msg))
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(conn, buf)
	var timeout net.Error
	switch {
	case errors.As(err, &timeout) && timeout.Timeout():
		t.Fatalf("connection neither echoed nor closed: %v", err)
	case allowed && err != nil:
		t.Errorf("allowed connection failed: %v", err)
	case allowed && string(buf) != msg:
		t.Errorf("echo %q, want %q", buf, msg)
	case !allowed && err == nil:
		t.Errorf("denied connection echoed %q", buf)
	}
}

// startEcho runs a loopback TCP echo server and returns its port.
func startEcho(t *testing.T) uint32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

// startEnvoy runs Envoy on the bootstrap and returns each listener's
// address by name.
func startEnvoy(t *testing.T, tb *testBootstrap) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := localmesh.StartEnvoy(ctx, localmesh.EnvoyOptions{Name: "rbac", Bootstrap: tb.json(t), LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	addrs, err := e.ListenerAddresses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range tb.b.GetStaticResources().GetListeners() {
		if addrs[l.GetName()] == "" {
			t.Fatalf("envoy has no active listener %s; listeners: %v\n%s", l.GetName(), addrs, e.LogTail(40))
		}
	}
	return addrs
}

// TestEnvoyValidatesGeneratedFilters loads the JWT, HTTP and TCP filters and
// the JWKS clusters of every golden input, and of the seed, into one
// bootstrap and has Envoy check it.
func TestEnvoyValidatesGeneratedFilters(t *testing.T) {
	bin, err := envoybin.Path()
	if err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t)
	tb := newTestBootstrap()
	tb.addCluster("upstream", 1)
	cases := append(goldenCases(t), goldenCase{
		name:     "seed",
		workload: workload{namespace: "default", labels: map[string]string{"app": "backend-service"}, trustDomain: "cluster.local"},
		config:   loadConfig(t, seedFile),
	})
	for _, c := range cases {
		selected := For(c.config, c.workload.namespace, c.workload.labels)
		authns := RequestAuthenticationsFor(c.config, c.workload.namespace, c.workload.labels)
		var http []*hcmv3.HttpFilter
		if f := JWTFilter(authns); f != nil {
			http = append(http, f)
		}
		tb.addClusters(JWKSClusters(authns)...)
		tb.addHTTP(c.name+"-http", append(http, HTTPFilters(selected, c.workload.trustDomain)...), mtlsContext(pki))
		tb.addTCP(c.name+"-tcp", NetworkFilters(selected, c.workload.trustDomain), "upstream")
	}
	file := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(file, tb.json(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--mode", "validate", "-c", file, "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Fatalf("envoy rejects the generated filters: %v\n%s", err, out)
	}
}
