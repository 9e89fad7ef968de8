package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
	"github.com/isthmus-mesh/isthmus/certs/caservice"
	"github.com/isthmus-mesh/isthmus/deploy/bootstrap"
)

// agentToken is the one bearer token agentAuth accepts, for shop/reviews.
var agentToken = func() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"sub":"system:serviceaccount:shop:reviews"}`)) + ".sig"
}()

type agentAuth struct{}

func (agentAuth) Authenticate(ctx context.Context, clusterID string) (certs.Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer "+agentToken || clusterID != "east" {
		return certs.Identity{}, &authn.Error{Reason: authn.ReasonBadToken, Err: errors.New("refused")}
	}
	return certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "shop", ServiceAccount: "reviews"}, nil
}

// TestAgentOnce: isthmus agent --once against the CA service on TLS writes
// the workload's certificate, key and roots; a refused token exits 1 and
// writes nothing.
func TestAgentOnce(t *testing.T) {
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServing([]string{bootstrap.DefaultXDSServerName}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})))
	caservice.New(ca, agentAuth{}, caservice.Options{}).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	dir := t.TempDir()
	root, token := filepath.Join(dir, "root-cert.pem"), filepath.Join(dir, "istio-token")
	if err := os.WriteFile(root, ca.RootsPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token string
		code  int
	}{{agentToken, 0}, {"not-the-token", 1}} {
		if err := os.WriteFile(token, []byte(c.token), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "certs")
		var stdout, stderr bytes.Buffer
		code := run([]string{"agent", "--once", "--ca-address", lis.Addr().String(), "--root-cert", root, "--token-file", token,
			"--cluster-id", "east", "--output-dir", out}, &stdout, &stderr)
		if code != c.code {
			t.Fatalf("exit %d, want %d: %s", code, c.code, stderr.String())
		}
		if c.code != 0 {
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output written after a refusal")
			}
			continue
		}
		kp, err := tls.LoadX509KeyPair(filepath.Join(out, "cert-chain.pem"), filepath.Join(out, "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if got := kp.Leaf.URIs[0].String(); got != "spiffe://cluster.local/ns/shop/sa/reviews" {
			t.Errorf("certificate for %s", got)
		}
		if !strings.Contains(stderr.String(), "workload certificate written") {
			t.Errorf("log: %s", stderr.String())
		}
	}
}

func TestAgentFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"agent", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--token-file") {
		t.Errorf("--help: exit %d, %s", code, stdout.String())
	}
	if code := run([]string{"agent", "--ttl", "0s"}, &stdout, &stderr); code != 2 {
		t.Errorf("--ttl 0s: exit %d", code)
	}
	if code := run([]string{"agent", "extra"}, &stdout, &stderr); code != 2 {
		t.Errorf("argument: exit %d", code)
	}
}
