package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/kubeharness"
)

var secureAddrInLog = regexp.MustCompile(`secure=(\S+)`)

// isthmus serve answers Istio's CA API on the secure port: a caller that
// proves default/app with a mesh client certificate gets its CSR signed,
// chain leaf first and root last; a CSR for another identity is refused.
func TestServeSignsCSRsOnTheSecurePort(t *testing.T) {
	dir, caDir := t.TempDir(), filepath.Join(t.TempDir(), "ca")
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	ca, err := certs.LoadOrCreateCA(caDir, certs.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	var logs serveLogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", secureListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0",
		caDir: caDir, certTTL: time.Hour, debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond}
	_ = opts.secureDNSNames.Set(defaultSecureDNSNames)
	listening := make(chan struct{})
	go serve(ctx, opts, slog.New(slog.NewTextHandler(&logs, nil)), func(net.Addr, net.Addr) { close(listening) })
	<-listening
	var secureAddr string
	waitForServeTest(t, "the secure port's address in the log", func() bool {
		m := secureAddrInLog.FindStringSubmatch(logs.String())
		if m != nil {
			secureAddr = m[1]
		}
		return m != nil
	})
	client := pb.NewIstioCertificateServiceClient(dialSecure(t, ca, secureAddr))

	app := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "app"}
	resp, err := client.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: csrFor(t, app), ValidityDuration: 600})
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	chain := resp.GetCertChain()
	if len(chain) < 2 {
		t.Fatalf("chain of %d certificates, want leaf and root", len(chain))
	}
	leaf := parsePEM(t, chain[0])
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != app.SPIFFEID() {
		t.Errorf("leaf URI SANs %v, want %s", leaf.URIs, app.SPIFFEID())
	}
	if root := parsePEM(t, chain[len(chain)-1]); !root.IsCA || root.Subject.String() != root.Issuer.String() {
		t.Errorf("last of the chain is %s, want the self-signed root", root.Subject)
	}

	other := app
	other.ServiceAccount = "payments"
	_, err = client.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: csrFor(t, other), ValidityDuration: 600})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("CSR for another identity: %v, want PermissionDenied", err)
	}
}

// dialSecure connects to the secure port with a mesh client certificate of
// default/app.
func dialSecure(t *testing.T, ca *certs.CA, addr string) *grpc.ClientConn {
	t.Helper()
	cert, err := ca.Issue(certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "app"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := cert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: ca.RootPool(), ServerName: "isthmus.istio-system.svc"})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// csrFor is a PEM CSR with id's SPIFFE ID as its only SAN, as istio-agent
// makes it.
func csrFor(t *testing.T, id certs.Identity) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := url.Parse(id.SPIFFEID())
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func parsePEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("not PEM: %q", s)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A caller with a Kubernetes service-account token for audience istio-ca,
// from the cluster it names, gets its CSR signed; the same token naming
// another cluster is refused.
func TestServeReviewsTokensOfItsClusters(t *testing.T) {
	cluster := kubeharness.StartT(t, kubeharness.Options{Name: "aws"})
	ctx := t.Context()
	if _, err := cluster.Client.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cluster.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "app",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir, caDir := t.TempDir(), filepath.Join(t.TempDir(), "ca")
	writeServeTestFile(t, filepath.Join(dir, "reviews.yaml"), reviewsServiceEntry)
	ca, err := certs.LoadOrCreateCA(caDir, certs.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	var kubeconfigs kubeconfigFlag
	if err := kubeconfigs.Set("aws=" + cluster.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	var logs serveLogBuffer
	opts := serveOptions{configDir: dir, xdsListen: "127.0.0.1:0", secureListen: "127.0.0.1:0", monitoringListen: "127.0.0.1:0",
		caDir: caDir, certTTL: time.Hour, debounce: 10 * time.Millisecond, debounceMax: 50 * time.Millisecond, kubeconfigs: kubeconfigs}
	_ = opts.secureDNSNames.Set(defaultSecureDNSNames)
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go serve(serveCtx, opts, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	var secureAddr string
	waitForServeTest(t, "the secure port's address in the log", func() bool {
		m := secureAddrInLog.FindStringSubmatch(logs.String())
		if m != nil {
			secureAddr = m[1]
		}
		return m != nil
	})
	creds := credentials.NewTLS(&tls.Config{RootCAs: ca.RootPool(), ServerName: "isthmus.istio-system.svc"})
	conn, err := grpc.NewClient(secureAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewIstioCertificateServiceClient(conn)
	app := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "app"}
	asAgent := func(clusterID string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tr.Status.Token, "ClusterID", clusterID)
	}
	var resp *pb.IstioCertificateResponse
	waitForServeTest(t, "the token to be accepted once the cluster is known", func() bool {
		resp, err = client.CreateCertificate(asAgent("aws"), &pb.IstioCertificateRequest{Csr: csrFor(t, app), ValidityDuration: 600})
		return err == nil
	})
	if leaf := parsePEM(t, resp.GetCertChain()[0]); len(leaf.URIs) != 1 || leaf.URIs[0].String() != app.SPIFFEID() {
		t.Errorf("leaf URI SANs %v, want %s", leaf.URIs, app.SPIFFEID())
	}
	_, err = client.CreateCertificate(asAgent("gcp"), &pb.IstioCertificateRequest{Csr: csrFor(t, app), ValidityDuration: 600})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("token naming an unknown cluster: %v, want Unauthenticated", err)
	}
}

// A root rotation's phases follow the secure port: with it on, istio-agent
// sidecars learn roots only as they renew, so the new root is trusted and
// the old one kept a certificate lifetime; without it, minutes.
func TestRootRotationPhasesFollowTheSecurePort(t *testing.T) {
	for _, tc := range []struct {
		args                 []string
		wantDelay, wantGrace time.Duration
	}{
		{[]string{"--cert-ttl", "12h"}, 12 * time.Hour, 12 * time.Hour},
		{[]string{"--cert-ttl", "12h", "--secure-listen", ""}, certs.DefaultRootTrustDelay, certs.DefaultRootGrace},
		{[]string{"--cert-ttl", "12h", "--root-trust-delay", "2m", "--root-grace", "3m"}, 2 * time.Minute, 3 * time.Minute},
	} {
		opts, _, err := parseServeFlags(append([]string{"--config-dir", t.TempDir()}, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		if got, gotGrace := rootTrustDelay(opts), rootGrace(opts); got != tc.wantDelay || gotGrace != tc.wantGrace {
			t.Errorf("%v: trust delay %v, grace %v; want %v, %v", tc.args, got, gotGrace, tc.wantDelay, tc.wantGrace)
		}
	}
}
