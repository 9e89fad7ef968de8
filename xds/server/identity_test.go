package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/isthmus-mesh/isthmus/certs"
)

// stubAuthenticator proves a fixed identity, or fails with a reason.
type stubAuthenticator struct {
	id  certs.Identity
	err error
}

func (a stubAuthenticator) Authenticate(context.Context, string) (certs.Identity, error) {
	return a.id, a.err
}

type reasonError struct{ reason string }

func (e reasonError) Error() string  { return "credential refused: " + e.reason }
func (e reasonError) Reason() string { return e.reason }

// startTLSServer serves xDS over TLS (and plaintext) with auth.
func startTLSServer(t *testing.T, auth Authenticator) *harness {
	t.Helper()
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServing([]string{"isthmus.istio-system.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Debounce: 10 * time.Millisecond, DebounceMax: 50 * time.Millisecond, Logger: testLogger(t),
		Secrets: IssuerSecrets(certs.NewIssuer(ca, certs.IssuerOptions{Logger: slog.New(slog.DiscardHandler)}), certs.DefaultTrustDomain),
		TLS:     &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, Authenticator: auth})
	h := &harness{t: t, server: s, addr: lis.Addr().String(), monitor: httptest.NewServer(s.Handler()), served: make(chan error, 1)}
	go func() { h.served <- s.ServeTLS(lis) }()
	t.Cleanup(func() { s.Stop(); h.monitor.Close() })
	s.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	return h
}

func (h *harness) dialTLS() *grpc.ClientConn {
	h.t.Helper()
	creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test checks the server side
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return conn
}

// A proxy on the secure port that proves the identity its node claims is
// served that identity's key.
func TestProvenIdentityGetsItsKey(t *testing.T) {
	app := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "app"}
	h := startTLSServer(t, stubAuthenticator{id: app})
	c := newSotwClient(t, h.dialTLS(), sidecarNode(t, "app-1"))
	c.sync()
	secrets := secretsByName(t, c.waitFor(resource.SecretType))
	if workload := secrets[certs.WorkloadSecretName]; workload == nil || !strings.HasSuffix(uriSANs(leafOf(t, workload))[0], "/sa/app") {
		t.Fatalf("secrets %v, want the certificate of %s", keys(secrets), app)
	}
}

// A credential for another identity than the node claims, or none, ends
// the stream before any response, counted by reason.
func TestUnprovenIdentityIsRefused(t *testing.T) {
	other := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "other"}
	for name, tc := range map[string]struct {
		auth   stubAuthenticator
		code   codes.Code
		reason string
	}{
		"another identity": {stubAuthenticator{id: other}, codes.PermissionDenied, reasonIdentityMismatch},
		"no credential":    {stubAuthenticator{err: reasonError{"no_credential"}}, codes.Unauthenticated, "no_credential"},
		"review failed":    {stubAuthenticator{err: errors.New("TokenReview unavailable")}, codes.Unauthenticated, reasonUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			h := startTLSServer(t, tc.auth)
			c := newSotwClient(t, h.dialTLS(), sidecarNode(t, "app-1"))
			c.subscribe(resource.ClusterType, nil)
			err := c.waitEnded()
			if status.Code(err) != tc.code {
				t.Fatalf("stream ended with %v, want %v", err, tc.code)
			}
			_, metrics := h.get("/metrics")
			if want := `isthmus_xds_auth_failures_total{reason="` + tc.reason + `"} 1`; !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
}

// A proxy on the plaintext port proves nothing: it is served the roots
// but no private key, and the rest of its resources.
func TestPlaintextProxyGetsNoKey(t *testing.T) {
	h := startServerWith(t, Options{Secrets: testSecrets(t)})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	c := newSotwClient(t, h.dial(), sidecarNode(t, "app-1"))
	c.sync()
	secrets := secretsByName(t, c.waitFor(resource.SecretType))
	if secrets[certs.WorkloadSecretName] != nil || secrets[certs.RootSecretName] == nil {
		t.Fatalf("secrets %v, want %s only", keys(secrets), certs.RootSecretName)
	}
}

// waitFor accepts responses until one of typeURL has come, and returns
// the last.
func (c *sotwClient) waitFor(typeURL string) anyResponse {
	c.t.Helper()
	for c.last[typeURL] == nil {
		c.accept(c.next())
	}
	return c.last[typeURL]
}

// waitEnded waits for the stream to end and returns why.
func (c *sotwClient) waitEnded() error {
	c.t.Helper()
	for {
		select {
		case err := <-c.ended:
			return err
		case <-c.recv:
			c.t.Fatal("a response came before the stream ended")
		case <-time.After(waitLimit):
			c.t.Fatal("the stream did not end")
		}
	}
}
