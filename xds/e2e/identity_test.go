package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/bootstrap"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestProvenIdentitiesOverTLS: every Envoy connects to the secure port
// with a client certificate for the identity its node claims, and Isthmus
// serves keys to proven identities only: sidecars speak STRICT mTLS with
// the keys they proved. An Envoy whose certificate proves the clients'
// identity but whose node claims the server's service account is refused
// and gets no key.
func TestProvenIdentitiesOverTLS(t *testing.T) {
	t.Parallel()
	m := startMigrationMeshWith(t, true)
	m.converge(t, "mesh STRICT", m.apply(t, meshStrictYAML), map[int]bool{migrationPort: true, migrationPlainPort: true})
	for _, c := range m.clients {
		m.checkClient(t, c)
		checkPostQuantumXDS(t, c)
	}

	impostor := localmesh.SidecarNode("impostor", "default", "127.0.0.9", map[string]string{"app": "impostor"}, false)
	impostor.Meta["SERVICE_ACCOUNT"] = "server"
	impostor.TLS = m.clientCertificate(t, "impostor", "default")
	e, err := localmesh.StartRefusedSidecar(t.Context(), m.isthmus, "impostor", impostor, m.logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	waitUntil(t, "the impostor to be refused", func() bool {
		metrics, err := m.isthmus.Metrics(t.Context())
		v, _ := metricValue(metrics, `isthmus_xds_auth_failures_total{reason="identity_mismatch"}`)
		return err == nil && v >= 1
	})
	body, err := e.Admin(t.Context(), "/config_dump?resource=dynamic_active_secrets")
	if err != nil {
		t.Fatal(err)
	}
	var dump struct {
		Configs []struct {
			Name   string          `json:"name"`
			Secret json.RawMessage `json:"secret"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &dump); err != nil {
		t.Fatal(err)
	}
	for _, s := range dump.Configs {
		// The bootstrap's own client certificate, read from its files, is
		// not a key Isthmus served.
		if s.Name != bootstrap.ClientCertSecret && (s.Name == "default" || strings.Contains(string(s.Secret), "private_key")) {
			t.Errorf("the impostor holds a mesh key %s:\n%s", s.Name, body)
		}
	}
}

// checkPostQuantumXDS: the sidecar's connection to Isthmus, which carries
// its private keys, is TLS 1.3 with the hybrid post-quantum key exchange.
func checkPostQuantumXDS(t *testing.T, c *migrationClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stats, err := c.envoy.Stats(ctx)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	for _, name := range []string{"cluster.xds-grpc.ssl.versions.TLSv1.3", "cluster.xds-grpc.ssl.curves.X25519MLKEM768"} {
		if stats[name] < 1 {
			t.Errorf("%s: %s = %d, want the xDS connection on it", c.name, name, stats[name])
		}
	}
}

// clientCertificate writes, for the Envoy name, the mesh roots and a
// client certificate of service account sa in namespace default, issued
// by the CA Isthmus keeps in its state directory.
func (m *migrationMesh) clientCertificate(t *testing.T, name, sa string) *localmesh.NodeTLS {
	t.Helper()
	ca, err := certs.LoadCA(filepath.Join(m.logDir, "state", "ca"), certs.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: sa}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := &localmesh.NodeTLS{RootCert: filepath.Join(dir, "root.pem"), CertChain: filepath.Join(dir, name+".pem"), PrivateKey: filepath.Join(dir, name+"-key.pem")}
	for path, data := range map[string][]byte{files.RootCert: ca.RootsPEM(), files.CertChain: cert.ChainPEM, files.PrivateKey: cert.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// claimedServiceAccount is the service account a node names; "default"
// when none.
func claimedServiceAccount(node localmesh.Node) string {
	if sa := node.Meta["SERVICE_ACCOUNT"]; sa != "" {
		return sa
	}
	return "default"
}
