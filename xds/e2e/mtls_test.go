package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// serverSidecar is a sidecar in front of one upstream: an inbound listener
// bound on its own loopback address (Sidecar ingress, no capture) that
// forwards to the upstream, and the WorkloadEntry that makes it the
// scenario's only endpoint, labelled as having a sidecar.
type serverSidecar struct {
	name  string // pod, app label and service account
	ip    string
	envoy *localmesh.Envoy
}

func (s *scenario) startServerSidecar(t *testing.T, upstream *localmesh.Upstream) *serverSidecar {
	t.Helper()
	ip, err := localmesh.RandomLoopbackIP(servicePort)
	if err != nil {
		t.Fatal(err)
	}
	srv := &serverSidecar{name: s.name + "-server", ip: ip}
	s.apply(t, s.serverWithSidecarYAML(srv, upstream, "")...)
	node := clientNode(srv.name, ip)
	node.Meta["SERVICE_ACCOUNT"] = srv.name
	srv.envoy = s.startEnvoy(t, srv.name, node, srv.addr())
	return srv
}

func (srv *serverSidecar) addr() string { return net.JoinHostPort(srv.ip, strconv.Itoa(servicePort)) }

// serverWithSidecarYAML declares the scenario's service with the server sidecar
// as its endpoint, the sidecar's ingress, and any extra documents.
func (s *scenario) serverWithSidecarYAML(srv *serverSidecar, upstream *localmesh.Upstream, extra string) []string {
	docs := []string{
		s.selectedServiceYAML(srv.name),
		sidecarWorkloadYAML(srv.name, srv.ip, ""),
		serverSidecarYAML(srv.name, srv.ip, upstream.Addr),
	}
	if extra != "" {
		docs = append(docs, extra)
	}
	return docs
}

func checkEnvoyAccepted(t *testing.T, name string, e *localmesh.Envoy) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rejected, err := e.RejectedUpdates(ctx)
	if err != nil {
		t.Errorf("%s: %v", name, err)
	} else if len(rejected) > 0 {
		t.Errorf("%s rejected xDS updates:\n%s\nenvoy log:\n%s", name, rejected, e.LogGrep("rejected", "Rejected"))
	}
}

// plainGet sends one plaintext request straight to the server sidecar,
// as a workload without a sidecar would.
func plainGet(srv *serverSidecar, host string) (int, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, "http://"+srv.addr()+"/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestMutualTLSBetweenSidecars: a client sidecar reaches a server sidecar
// over mTLS (automatic: the endpoint is labelled as having a sidecar), with
// certificates Isthmus issued for each side's service account; the
// application sees both identities in x-forwarded-client-cert. Under the
// default PERMISSIVE mode a workload without a sidecar still gets in in
// plaintext; a STRICT PeerAuthentication shuts it out while sidecar
// traffic keeps flowing.
func TestMutualTLSBetweenSidecars(t *testing.T) {
	s := newScenario(t, "mtls", "v1")
	app := s.upstreams["v1"]
	srv := s.startServerSidecar(t, app)
	clientID := "spiffe://cluster.local/ns/default/sa/default"
	serverID := "spiffe://cluster.local/ns/default/sa/" + srv.name

	s.eachProxy(t, func(t *testing.T, p *proxy) {
		s.waitFor(t, p, "/", nil, func(r localmesh.Reply) bool { return r.Upstream == app.Name })
		reqs := app.Requests()
		xfcc := reqs[len(reqs)-1].Header.Get("X-Forwarded-Client-Cert")
		if !strings.Contains(xfcc, "By="+serverID) || !strings.Contains(xfcc, "URI="+clientID) {
			t.Fatalf("x-forwarded-client-cert = %q, want By=%s and URI=%s", xfcc, serverID, clientID)
		}
	})
	if code, err := plainGet(srv, s.host); err != nil || code != http.StatusOK {
		t.Fatalf("PERMISSIVE: plaintext request = %d, %v; want 200", code, err)
	}

	strict := fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: %[1]s, namespace: default}
spec:
  selector: {matchLabels: {app: %[1]s}}
  mtls: {mode: STRICT}`, srv.name)
	s.apply(t, s.serverWithSidecarYAML(srv, app, strict)...)
	waitUntil(t, "STRICT refuses plaintext", func() bool { _, err := plainGet(srv, s.host); return err != nil })
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		if r := s.get(t, p, "/", nil); r.Upstream != app.Name {
			t.Fatalf("STRICT: request through the client sidecar got %d from %q, want %s", r.Status, r.Upstream, app.Name)
		}
	})
}

// waitUntil polls cond until it holds, failing after applyTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(applyTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, applyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// send sends one request through the client sidecar p and returns the
// status.
func send(t *testing.T, p *proxy, method, host, path string) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.client.Addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", p.name, method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuthorizationPolicyOnPeerIdentity: an AuthorizationPolicy on the
// server workload lets the clients' service account GET /api/* only; other
// methods and paths get 403, and once the policy names another service
// account the clients are refused too.
func TestAuthorizationPolicyOnPeerIdentity(t *testing.T) {
	s := newScenario(t, "authz", "v1")
	app := s.upstreams["v1"]
	srv := s.startServerSidecar(t, app)
	policy := func(principal string) string {
		return fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: %[1]s, namespace: default}
spec:
  selector: {matchLabels: {app: %[1]s}}
  rules:
  - from: [{source: {principals: [%[2]q]}}]
    to: [{operation: {methods: [GET], paths: ["/api/*"]}}]`, srv.name, principal)
	}
	s.apply(t, s.serverWithSidecarYAML(srv, app, policy("cluster.local/ns/default/sa/default"))...)
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		waitUntil(t, "the policy to refuse POST", func() bool { return send(t, p, http.MethodPost, s.host, "/api/x") == http.StatusForbidden })
		if code := send(t, p, http.MethodGet, s.host, "/api/x"); code != http.StatusOK {
			t.Errorf("GET /api/x = %d, want 200", code)
		}
		if code := send(t, p, http.MethodGet, s.host, "/other"); code != http.StatusForbidden {
			t.Errorf("GET /other = %d, want 403", code)
		}
	})
	s.apply(t, s.serverWithSidecarYAML(srv, app, policy("cluster.local/ns/default/sa/someone-else"))...)
	s.eachProxy(t, func(t *testing.T, p *proxy) {
		waitUntil(t, "another principal to refuse GET", func() bool { return send(t, p, http.MethodGet, s.host, "/api/x") == http.StatusForbidden })
	})
}
