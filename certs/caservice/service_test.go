package caservice

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
)

func TestSignsAsIstiod(t *testing.T) {
	ca := mustCA(t)
	auth := &stubTokens{tokens: map[string]certs.Identity{"reviews-token": reviews}}
	srv := serve(t, New(ca, auth, Options{Logger: quietLogger()}), ca.RootsPEM())
	agent := dial(t, srv, "Kubernetes", "reviews-token", nil)

	csr, key := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}})
	before := time.Now()
	resp, err := agent.sign(t, csr, 3600)
	if err != nil {
		t.Fatal(err)
	}
	chain := parseChain(t, resp.CertChain)
	if len(chain) != 2 {
		t.Fatalf("cert_chain has %d certificates, want the leaf and the root", len(chain))
	}
	checkChainOrder(t, chain, ca.RootsPEM())
	leaf := chain[0]
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != reviews.SPIFFEID() {
		t.Errorf("leaf SANs %v, want [%s]", leaf.URIs, reviews.SPIFFEID())
	}
	if !key.Public().(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Error("leaf does not hold the CSR's key")
	}
	if life := leaf.NotAfter.Sub(before); life < 59*time.Minute || life > 61*time.Minute {
		t.Errorf("leaf lives %v after the request, want the 1h asked for", life)
	}
	if got := auth.lastCluster(); got != "Kubernetes" {
		t.Errorf("authenticator was given cluster %q, want the ClusterID metadata %q", got, "Kubernetes")
	}
}

func TestSignsRSAKeysAsIstioAgentDefaults(t *testing.T) {
	ca := mustCA(t)
	srv := serve(t, New(ca, &stubTokens{tokens: map[string]certs.Identity{"t": reviews}}, Options{Logger: quietLogger()}), ca.RootsPEM())
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}, key: key})
	if _, err := dial(t, srv, "Kubernetes", "t", nil).sign(t, csr, 3600); err != nil {
		t.Fatal(err)
	}
}

func TestChainHasIntermediatesThenRoot(t *testing.T) {
	dir, rootPEM := intermediateCADir(t)
	ca, err := certs.LoadCA(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, New(ca, &stubTokens{tokens: map[string]certs.Identity{"t": reviews}}, Options{Logger: quietLogger()}), rootPEM)
	csr, _ := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}})
	resp, err := dial(t, srv, "Kubernetes", "t", nil).sign(t, csr, 3600)
	if err != nil {
		t.Fatal(err)
	}
	chain := parseChain(t, resp.CertChain)
	if len(chain) != 3 {
		t.Fatalf("cert_chain has %d certificates, want leaf, intermediate, root", len(chain))
	}
	checkChainOrder(t, chain, rootPEM)
	if !chain[1].IsCA || chain[1].CheckSignatureFrom(chain[1]) == nil {
		t.Error("cert_chain[1] is not the intermediate CA")
	}
}

// intermediateCADir writes a root and an intermediate signing CA in
// Istio's cacerts layout, using the CA package itself for the root.
func intermediateCADir(t *testing.T) (dir string, rootPEM []byte) {
	t.Helper()
	rootDir := filepath.Join(t.TempDir(), "root")
	root, err := certs.LoadOrCreateCA(rootDir, "")
	if err != nil {
		t.Fatal(err)
	}
	rootCert := parseChain(t, []string{string(root.RootsPEM())})[0]
	rootKey := readKey(t, filepath.Join(rootDir, certs.CAKeyFile))
	key := newKey(t)
	tmpl := &x509.Certificate{
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rootCert, key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	interPEM := pemOf("CERTIFICATE", der)
	for name, data := range map[string][]byte{
		certs.CACertFile:    interPEM,
		certs.CAKeyFile:     pemOf("PRIVATE KEY", keyDER),
		certs.RootCertFile:  root.RootsPEM(),
		certs.CertChainFile: append(interPEM, root.RootsPEM()...),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, root.RootsPEM()
}

func TestTTLIsCapped(t *testing.T) {
	ca := mustCA(t)
	svc := New(ca, &stubTokens{tokens: map[string]certs.Identity{"t": reviews}}, Options{MaxTTL: 2 * time.Hour, Logger: quietLogger()})
	agent := dial(t, serve(t, svc, ca.RootsPEM()), "Kubernetes", "t", nil)
	for _, c := range []struct {
		ask  int64
		want time.Duration
	}{
		{600, 10 * time.Minute},
		{10 * 24 * 3600, 2 * time.Hour},
		{math.MaxInt64, 2 * time.Hour},
		{0, 2 * time.Hour}, // the default, 24h, capped too
		{-5, 2 * time.Hour},
	} {
		csr, _ := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}})
		before := time.Now()
		resp, err := agent.sign(t, csr, c.ask)
		if err != nil {
			t.Fatalf("validity_duration %d: %v", c.ask, err)
		}
		life := parseChain(t, resp.CertChain)[0].NotAfter.Sub(before)
		if life < c.want-time.Minute || life > c.want+time.Minute {
			t.Errorf("validity_duration %d: certificate lives %v, want %v", c.ask, life, c.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	ca := mustCA(t)
	foreign := certs.Identity{TrustDomain: "example.org", Namespace: "shop", ServiceAccount: "reviews"}
	logged := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logged, nil))
	svc := New(ca, &stubTokens{tokens: map[string]certs.Identity{"t": reviews, "foreign": foreign}}, Options{Logger: logger, LogEvery: time.Hour})
	srv := serve(t, svc, ca.RootsPEM())
	proxy := dial(t, srv, "Kubernetes", "t", nil)
	mine := reviews.SPIFFEID()
	manyDNS := make([]string, 1000)
	for i := range manyDNS {
		manyDNS[i] = fmt.Sprintf("h%d.example", i)
	}
	tooMany := make([]string, MaxSANs+1)
	for i := range tooMany {
		tooMany[i] = mine
	}
	good, _ := makeCSR(t, csrSpec{uris: []string{mine}})
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	csr := func(spec csrSpec) []byte { b, _ := makeCSR(t, spec); return b }
	cases := map[string]struct {
		agent *agent
		csr   []byte
		code  codes.Code
	}{
		"no token":           {dial(t, srv, "Kubernetes", "", nil), good, codes.Unauthenticated},
		"unknown token":      {dial(t, srv, "Kubernetes", "forged", nil), good, codes.Unauthenticated},
		"another identity":   {proxy, csr(csrSpec{uris: []string{"spiffe://cluster.local/ns/kube-system/sa/admin"}}), codes.PermissionDenied},
		"mine and another":   {proxy, csr(csrSpec{uris: []string{mine, "spiffe://cluster.local/ns/shop/sa/ratings"}}), codes.PermissionDenied},
		"other trust domain": {proxy, csr(csrSpec{uris: []string{"spiffe://example.org/ns/shop/sa/reviews"}}), codes.PermissionDenied},
		"foreign identity":   {dial(t, srv, "Kubernetes", "foreign", nil), csr(csrSpec{uris: []string{foreign.SPIFFEID()}}), codes.PermissionDenied},
		"DNS name":           {proxy, csr(csrSpec{uris: []string{mine}, dns: []string{"reviews.shop.svc"}}), codes.PermissionDenied},
		"garbage":            {proxy, []byte("not a CSR"), codes.InvalidArgument},
		"garbage in PEM":     {proxy, pemOf("CERTIFICATE REQUEST", []byte("junk")), codes.InvalidArgument},
		"certificate":        {proxy, []byte(ca.RootsPEM()), codes.InvalidArgument},
		"1000 SANs":          {proxy, csr(csrSpec{uris: []string{mine}, dns: manyDNS}), codes.InvalidArgument},
		"MaxSANs+1 SANs":     {proxy, csr(csrSpec{uris: tooMany}), codes.InvalidArgument},
		"bad signature":      {proxy, tamper(t, good), codes.InvalidArgument},
		"RSA 1024":           {proxy, csr(csrSpec{uris: []string{mine}, key: smallRSA}), codes.InvalidArgument},
		"huge":               {proxy, []byte(strings.Repeat("A", MaxCSRBytes+1)), codes.InvalidArgument},
	}
	for name, c := range cases {
		resp, err := c.agent.sign(t, c.csr, 3600)
		wantCode(t, name, err, c.code)
		if resp != nil {
			t.Errorf("%s: got a response with a refusal", name)
		}
	}
	// A refusal is that caller's only: the connection and the service go on.
	if _, err := proxy.sign(t, good, 3600); err != nil {
		t.Errorf("good request after the refusals: %v", err)
	}
	if got := counterValue(t, svc, "permission_denied", "other_identity"); got != 3 {
		t.Errorf("isthmus_ca_requests_total{permission_denied,other_identity} = %v, want 3", got)
	}
	if got := counterValue(t, svc, "signed", ""); got != 1 {
		t.Errorf("isthmus_ca_requests_total{signed} = %v, want 1", got)
	}
	if got := counterValue(t, svc, "invalid_argument", "too_many_sans"); got != 2 {
		t.Errorf("isthmus_ca_requests_total{invalid_argument,too_many_sans} = %v, want 2 (1000 SANs, MaxSANs+1)", got)
	}
	if got := counterValue(t, svc, "permission_denied", "other_trust_domain"); got != 1 {
		t.Errorf("isthmus_ca_requests_total{permission_denied,other_trust_domain} = %v, want 1", got)
	}
	// One WARN line per kind of refusal and interval, however many there were.
	if n := strings.Count(logged.String(), "reason=other_identity"); n != 1 {
		t.Errorf("%d log lines for 3 refusals of one kind, want 1:\n%s", n, logged.String())
	}
}

// tamper changes one byte of the CSR's signature.
func tamper(t *testing.T, csrPEM []byte) []byte {
	t.Helper()
	csr := parseCSRForTest(t, csrPEM)
	raw := append([]byte(nil), csr.Raw...)
	raw[len(raw)-3] ^= 0xff
	return pemOf("CERTIFICATE REQUEST", raw)
}

func TestClientCertificateRenews(t *testing.T) {
	ca := mustCA(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.RootsPEM())
	auth := authn.Chain(
		authn.NewCertAuthenticator(certs.DefaultTrustDomain, func() *x509.CertPool { return roots }),
		&stubTokens{tokens: map[string]certs.Identity{}},
	)
	srv := serve(t, New(ca, auth, Options{Logger: quietLogger()}), ca.RootsPEM())
	current, err := ca.Issue(reviews, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := current.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	agent := dial(t, srv, "Kubernetes", "", &pair)
	csr, _ := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}})
	resp, err := agent.sign(t, csr, 3600)
	if err != nil {
		t.Fatal(err)
	}
	if leaf := parseChain(t, resp.CertChain)[0]; leaf.URIs[0].String() != reviews.SPIFFEID() {
		t.Errorf("renewed certificate names %v", leaf.URIs)
	}
	other, _ := makeCSR(t, csrSpec{uris: []string{"spiffe://cluster.local/ns/shop/sa/ratings"}})
	_, err = agent.sign(t, other, 3600)
	wantCode(t, "client certificate asking for another identity", err, codes.PermissionDenied)
}

func counterValue(t *testing.T, svc *Service, result, reason string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["result"] == result && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// During a root rotation the last element of cert_chain, which istio-agent
// gives its proxy as ROOTCA, holds the old and the new roots, the one the
// chain ends at first, so the proxy trusts peers of either CA.
func TestChainEndsWithEveryRootDuringRotation(t *testing.T) {
	oldCA, newCA := mustCA(t), mustCA(t)
	iss := certs.NewIssuer(oldCA, certs.IssuerOptions{Logger: quietLogger()})
	if err := iss.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, New(iss, &stubTokens{tokens: map[string]certs.Identity{"t": reviews}}, Options{Logger: quietLogger()}), iss.RootsPEM())
	csr, _ := makeCSR(t, csrSpec{uris: []string{reviews.SPIFFEID()}})
	resp, err := dial(t, srv, "Kubernetes", "t", nil).sign(t, csr, 3600)
	if err != nil {
		t.Fatal(err)
	}
	chain := resp.GetCertChain()
	if len(chain) != 2 {
		t.Fatalf("cert_chain has %d elements, want the leaf and the roots", len(chain))
	}
	leaf := parseChain(t, chain[:1])[0]
	roots, err := certs.DecodeCertificates([]byte(chain[1]))
	if err != nil || len(roots) != 2 || !strings.HasSuffix(chain[1], "\n") {
		t.Fatalf("last element of cert_chain holds %d certificates (%v), want both roots ending in a newline", len(roots), err)
	}
	if leaf.CheckSignatureFrom(roots[0]) != nil {
		t.Error("the root the leaf chains to is not first")
	}
	want, _ := certs.DecodeCertificates(newCA.RootsPEM())
	if !roots[1].Equal(want[0]) {
		t.Error("the new root is not in the last element")
	}
}
