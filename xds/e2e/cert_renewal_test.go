package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/agent"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestRenewedClientCertificateReachesEnvoy: an Envoy bootstrapped for the
// secure port with its certificate in an agent's output directory
// connects with a short-lived certificate; when the agent's writer
// replaces the files, Envoy takes the new certificate (its admin /certs
// shows the new serial), and once the first certificate has expired it
// reconnects to a restarted Isthmus with the new one.
func TestRenewedClientCertificateReachesEnvoy(t *testing.T) {
	t.Parallel()
	shared := theMesh(t)
	logDir := t.TempDir()
	is, err := localmesh.StartIsthmus(t.Context(), localmesh.IsthmusOptions{Bin: shared.isthmus.Bin, ConfigDir: t.TempDir(),
		LogDir: logDir, ProvenIdentities: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	ca, err := certs.LoadCA(filepath.Join(logDir, "state", "ca"), certs.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	id := certs.Identity{TrustDomain: certs.DefaultTrustDomain, Namespace: "default", ServiceAccount: "renewed"}
	out := t.TempDir()
	write := func(ttl time.Duration) *x509.Certificate {
		t.Helper()
		c, err := ca.Issue(id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		if err := agent.WriteFiles(out, c.ChainPEM, c.KeyPEM, ca.RootsPEM()); err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(c.ChainPEM)
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return leaf
	}
	first := write(6 * time.Second)

	node := localmesh.SidecarNode("renewed", "default", "127.0.0.1", map[string]string{"app": "renewed"}, false)
	node.Meta["SERVICE_ACCOUNT"] = "renewed"
	node.TLS = &localmesh.NodeTLS{RootCert: filepath.Join(out, agent.RootCertFile), CertChain: filepath.Join(out, agent.CertChainFile),
		PrivateKey: filepath.Join(out, agent.KeyFile)}
	e, err := localmesh.StartSidecar(t.Context(), is, "renewed", node, logDir)
	if err != nil {
		t.Fatalf("%v\n%s", err, is.LogTail(20))
	}
	t.Cleanup(e.Close)
	clientSerials := func() []string {
		body, err := e.Admin(t.Context(), "/certs")
		if err != nil {
			return nil
		}
		var dump struct {
			Certificates []struct {
				CertChain []struct {
					SerialNumber string `json:"serial_number"`
				} `json:"cert_chain"`
			} `json:"certificates"`
		}
		if json.Unmarshal(body, &dump) != nil {
			return nil
		}
		var serials []string
		for _, c := range dump.Certificates {
			for _, cc := range c.CertChain {
				serials = append(serials, strings.TrimLeft(cc.SerialNumber, "0"))
			}
		}
		return serials
	}
	serial := func(c *x509.Certificate) string { return c.SerialNumber.Text(16) }
	if got := clientSerials(); len(got) != 1 || got[0] != serial(first) {
		t.Fatalf("Envoy presents %v, want the first certificate %s", got, serial(first))
	}

	second := write(time.Hour)
	waitUntil(t, "Envoy to present the renewed certificate", func() bool {
		got := clientSerials()
		return len(got) == 1 && got[0] == serial(second)
	})

	time.Sleep(time.Until(first.NotAfter.Add(time.Second)))
	if err := is.KillAndRestart(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "Envoy to reconnect with the renewed certificate", func() bool {
		metrics, err := is.Metrics(t.Context())
		if err != nil {
			return false
		}
		v, err := metricValue(metrics, "isthmus_xds_connected_proxies")
		return err == nil && v >= 1
	})
	metrics, err := is.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(metrics, "\n") {
		if series, value, ok := strings.Cut(line, " "); ok && strings.HasPrefix(series, "isthmus_xds_auth_failures_total{") && value != "0" {
			t.Errorf("Isthmus refused a stream after the renewal: %s", line)
		}
	}
}
