package caservice

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
)

var reviews = certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "shop", ServiceAccount: "reviews"}

// stubTokens is an Authenticator knowing a fixed set of bearer tokens; it
// records the cluster each call named.
type stubTokens struct {
	tokens map[string]certs.Identity

	mu       sync.Mutex
	clusters []string
}

func (s *stubTokens) Authenticate(ctx context.Context, clusterID string) (certs.Identity, error) {
	s.mu.Lock()
	s.clusters = append(s.clusters, clusterID)
	s.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return certs.Identity{}, &authn.Error{Reason: authn.ReasonNoCredential}
	}
	id, ok := s.tokens[strings.TrimPrefix(values[0], "Bearer ")]
	if !ok {
		return certs.Identity{}, &authn.Error{Reason: authn.ReasonBadToken, Err: errors.New("unknown token")}
	}
	return id, nil
}

func (s *stubTokens) lastCluster() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clusters) == 0 {
		return ""
	}
	return s.clusters[len(s.clusters)-1]
}

// server is a Service behind a real gRPC server on loopback, over TLS as
// istiod's port 15012: a serving certificate for 127.0.0.1, and client
// certificates of the mesh verified when presented.
type server struct {
	addr        string
	servingPool *x509.CertPool // what clients trust
}

func serve(t *testing.T, svc *Service, meshRoots []byte) *server {
	t.Helper()
	serving, pool := servingCert(t)
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(meshRoots)
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	})
	gs := grpc.NewServer(grpc.Creds(creds))
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return &server{addr: lis.Addr().String(), servingPool: pool}
}

func servingCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "istiod"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// bearerToken sends "authorization: Bearer TOKEN" on every call, as
// istio-agent's token provider does.
type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return true }

// agent is a client speaking as istio-agent's CA client does.
type agent struct {
	client    pb.IstioCertificateServiceClient
	clusterID string
}

// dial connects an agent: token "" sends none, clientCert nil presents none.
func dial(t *testing.T, srv *server, clusterID, token string, clientCert *tls.Certificate) *agent {
	t.Helper()
	conf := &tls.Config{RootCAs: srv.servingPool, MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		conf.Certificates = []tls.Certificate{*clientCert}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(conf))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(token)))
	}
	conn, err := grpc.NewClient(srv.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &agent{client: pb.NewIstioCertificateServiceClient(conn), clusterID: clusterID}
}

// sign sends csrPEM for ttl seconds with the agent's "ClusterID" metadata.
func (a *agent) sign(t *testing.T, csrPEM []byte, ttl int64) (*pb.IstioCertificateResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("ClusterID", a.clusterID))
	return a.client.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: string(csrPEM), ValidityDuration: ttl})
}

// csrSpec is what a CSR asks for; the zero value asks for no SAN.
type csrSpec struct {
	uris []string
	dns  []string
	key  crypto.Signer // nil: a new ECDSA P-256 key
}

// makeCSR returns a PEM CSR as istio-agent makes one, and its key.
func makeCSR(t *testing.T, spec csrSpec) ([]byte, crypto.Signer) {
	t.Helper()
	key := spec.key
	if key == nil {
		key = newKey(t)
	}
	tmpl := &x509.CertificateRequest{DNSNames: spec.dns}
	for _, s := range spec.uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), key
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustCA(t *testing.T) *certs.CA {
	t.Helper()
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// parseChain parses cert_chain, one certificate per element.
func parseChain(t *testing.T, chain []string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for i, s := range chain {
		block, rest := pem.Decode([]byte(s))
		if block == nil || len(strings.TrimSpace(string(rest))) != 0 || !strings.HasSuffix(s, "\n") {
			t.Fatalf("cert_chain[%d] is not one PEM certificate ending in a newline: %q", i, s)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("cert_chain[%d]: %v", i, err)
		}
		out = append(out, c)
	}
	return out
}

// checkChainOrder checks each certificate is signed by the next, and the
// last is a self-signed root equal to one of rootsPEM.
func checkChainOrder(t *testing.T, chain []*x509.Certificate, rootsPEM []byte) {
	t.Helper()
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			t.Errorf("cert_chain[%d] is not signed by cert_chain[%d]: %v", i, i+1, err)
		}
	}
	root := chain[len(chain)-1]
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Errorf("last of cert_chain is not a self-signed root: %v", err)
	}
	want, _ := pem.Decode(rootsPEM)
	if want == nil || string(want.Bytes) != string(root.Raw) {
		t.Error("last of cert_chain is not the CA's root")
	}
}

func wantCode(t *testing.T, what string, err error, code codes.Code) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Errorf("%s: %v (%v), want %v", what, got, err, code)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func pemOf(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func readKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(crypto.Signer)
}

func parseCSRForTest(t *testing.T, csrPEM []byte) *x509.CertificateRequest {
	t.Helper()
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// syncBuffer is a log destination tests read while servers write.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
