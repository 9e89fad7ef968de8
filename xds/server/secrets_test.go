package server

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	networking "istio.io/api/networking/v1alpha3"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// fakeClock is a settable clock for the issuer.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// secretsByName decodes an SDS response.
func secretsByName(t *testing.T, resp anyResponse) map[string]*tlsv3.Secret {
	t.Helper()
	out := map[string]*tlsv3.Secret{}
	for _, a := range resp.GetResources() {
		s := &tlsv3.Secret{}
		if err := a.UnmarshalTo(s); err != nil {
			t.Fatal(err)
		}
		out[s.GetName()] = s
	}
	return out
}

type anyResponse interface{ GetResources() []*anypb.Any }

// leafOf parses the first certificate of a workload secret.
func leafOf(t *testing.T, s *tlsv3.Secret) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes())
	if block == nil {
		t.Fatalf("secret %q holds no PEM certificate", s.GetName())
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func uriSANs(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return out
}

// A sidecar is served, over SDS, a certificate for the service account it
// names that chains to the served roots; a renewal sends it the new
// certificate and nothing else.
func TestProxiesGetTheCertificateOfTheirIdentity(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	ca, err := certs.NewSelfSignedCA(certs.DefaultTrustDomain, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var h *harness
	issuer := certs.NewIssuer(ca, certs.IssuerOptions{TTL: time.Hour, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler), OnRotate: func([]certs.Identity) { h.server.Resync() }})
	h = startServerWith(t, Options{Secrets: IssuerSecrets(issuer, certs.DefaultTrustDomain), InsecureIdentities: true})
	h.server.Update(world{version: 1, endpoints: []string{"10.1.0.1"}}.snapshot())
	node := sidecarNode(t, "app-1")
	c := newSotwClient(t, h.dial(), node)
	c.sync()

	secrets := secretsByName(t, c.last[resource.SecretType])
	workload, root := secrets[certs.WorkloadSecretName], secrets[certs.RootSecretName]
	if workload == nil || root == nil {
		t.Fatalf("secrets served: %v, want %s and %s", keys(secrets), certs.WorkloadSecretName, certs.RootSecretName)
	}
	leaf := leafOf(t, workload)
	want := "spiffe://cluster.local/ns/default/sa/app"
	if got := uriSANs(leaf); len(got) != 1 || got[0] != want {
		t.Fatalf("certificate URI SANs %v, want [%s]", got, want)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(root.GetValidationContext().GetTrustedCa().GetInlineBytes()) {
		t.Fatal("ROOTCA holds no certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: clock.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("certificate does not chain to ROOTCA: %v", err)
	}

	clock.advance(45 * time.Minute) // past half of the 1h lifetime
	if renewed, err := issuer.RenewDue(); err != nil || len(renewed) != 1 {
		t.Fatalf("RenewDue = %v, %v; want the proxy's identity renewed", renewed, err)
	}
	resp := c.next()
	wantType(t, resp.TypeUrl, resource.SecretType)
	renewed := leafOf(t, secretsByName(t, resp)[certs.WorkloadSecretName])
	if renewed.SerialNumber.Cmp(leaf.SerialNumber) == 0 || !renewed.NotAfter.After(leaf.NotAfter) {
		t.Fatalf("after renewal the proxy still has serial %v expiring %v", renewed.SerialNumber, renewed.NotAfter)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// gatewaySnapshot is the test mesh plus a Gateway for routers labelled
// istio=ingress, terminating HTTPS with the credential "shop-cred".
func gatewaySnapshot(version uint64) *model.Snapshot {
	snap := world{version: version, endpoints: []string{"10.1.0.1"}}.snapshot()
	gw := &policy.Object{
		Key: policy.Key{Kind: policy.KindGateway, Namespace: "default", Name: "ingress"},
		Spec: &networking.Gateway{
			Selector: map[string]string{"istio": "ingress"},
			Servers: []*networking.Server{{
				Port:  &networking.Port{Number: 8443, Name: "https", Protocol: "HTTPS"},
				Hosts: []string{"shop.example.com"},
				Tls:   &networking.ServerTLSSettings{Mode: networking.ServerTLSSettings_SIMPLE, CredentialName: "shop-cred"},
			}},
		},
	}
	snap.Config = policy.NewConfig(append(snap.Config.Objects(), gw))
	return snap
}

func routerNode(t *testing.T) *corev3.Node {
	t.Helper()
	md, err := model.NodeMetadata(map[string]any{"NAMESPACE": "default", "LABELS": map[string]any{"istio": "ingress"}})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: "router~10.0.0.9~ingress-1.default~default.svc.cluster.local", Metadata: md}
}

// A gateway whose credential is missing still gets its configuration (the
// listener that needs the credential waits for it); once the credential
// appears it is served.
func TestGatewayServedWhileItsCredentialIsMissing(t *testing.T) {
	secrets := testCertSecrets(t)
	h := startServerWith(t, Options{Secrets: secrets, InsecureIdentities: true})
	h.server.Update(gatewaySnapshot(1))
	c := newSotwClient(t, h.dial(), routerNode(t))
	c.subscribe(resource.ClusterType, nil)
	c.subscribe(resource.ListenerType, nil)
	for c.last[resource.ListenerType] == nil {
		c.accept(c.next())
	}
	if names := c.names[resource.SecretType]; !slices.Contains(names, "kubernetes://shop-cred") {
		t.Fatalf("gateway subscribed to secrets %v, want kubernetes://shop-cred", names)
	}

	dir := t.TempDir()
	ca, _ := certs.NewSelfSignedCA(certs.DefaultTrustDomain, time.Hour)
	cert, _ := ca.Issue(certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "x"}, time.Hour)
	writeFile(t, filepath.Join(dir, "default", "shop-cred", "tls.crt"), cert.ChainPEM)
	writeFile(t, filepath.Join(dir, "default", "shop-cred", "tls.key"), cert.KeyPEM)
	creds, err := certs.LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets.SetCredentials(creds)
	h.server.Resync()
	for {
		resp := c.next()
		c.accept(resp)
		if resp.TypeUrl == resource.SecretType {
			if _, ok := secretsByName(t, resp)["kubernetes://shop-cred"]; ok {
				return
			}
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
