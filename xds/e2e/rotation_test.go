package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestRootRotationUnderTraffic: the CA in Isthmus's state directory is
// replaced by one with another root while sidecars speak STRICT mTLS, each
// request on a new connection. Isthmus follows it without a restart: both
// roots are trusted, certificates move to the new CA, the old root goes.
// No request fails, and at the end the Envoys trust the new root alone.
func TestRootRotationUnderTraffic(t *testing.T) {
	t.Parallel()
	m := startMigrationMeshWith(t, false, "--root-trust-delay", "2s", "--root-grace", "2s")
	m.converge(t, "mesh STRICT", m.apply(t, meshStrictYAML), map[int]bool{migrationPort: true, migrationPlainPort: true})
	before := caSerials(t, m.clients[0].envoy)

	if len(before) != 1 {
		t.Fatalf("trusted roots before the rotation: %v, want one", before)
	}
	load := m.startLoad(t)
	m.replaceCA(t)
	sawBoth := false
	waitUntil(t, "every Envoy to trust one new root alone", func() bool {
		roots := map[string]bool{}
		for _, e := range append([]*localmesh.Envoy{m.server}, envoysOf(m.clients)...) {
			got := caSerials(t, e)
			sawBoth = sawBoth || len(got) == 2
			if len(got) != 1 || got[0] == before[0] {
				return false
			}
			roots[got[0]] = true
		}
		return len(roots) == 1
	})
	time.Sleep(time.Second)
	sent, failed := load.stop()
	t.Logf("%d requests across the root rotation, %d failed; both roots seen trusted: %v", sent, failed, sawBoth)
	if failed > 0 || sent < 20 {
		t.Errorf("%d of %d requests failed across the root rotation, want none (and at least 20 sent)", failed, sent)
	}
	if !sawBoth {
		t.Error("no Envoy was seen trusting the old and the new root together")
	}
}

func envoysOf(clients []*migrationClient) []*localmesh.Envoy {
	var out []*localmesh.Envoy
	for _, c := range clients {
		out = append(out, c.envoy)
	}
	return out
}

// replaceCA writes a new CA, with a new root, over the one in Isthmus's
// state directory, file by file (each replaced by rename) as an operator
// would.
func (m *migrationMesh) replaceCA(t *testing.T) {
	t.Helper()
	staging := filepath.Join(t.TempDir(), "ca")
	if _, err := certs.LoadOrCreateCA(staging, certs.DefaultTrustDomain); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(m.logDir, "state", "ca")
	for _, name := range []string{certs.CAKeyFile, certs.CACertFile, certs.RootCertFile, certs.CertChainFile} {
		data, err := os.ReadFile(filepath.Join(staging, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(live, "."+name+".new")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(live, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeafRotationUnderTraffic: with 10 s certificates, renewed every few
// seconds, sidecars under STRICT mTLS with each request on a new
// connection: no request fails while Envoy's workload certificate changes
// again and again.
func TestLeafRotationUnderTraffic(t *testing.T) {
	t.Parallel()
	m := startMigrationMeshWith(t, false, "--cert-ttl", "10s")
	m.converge(t, "mesh STRICT", m.apply(t, meshStrictYAML), map[int]bool{migrationPort: true, migrationPlainPort: true})
	load := m.startLoad(t)
	serials := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, leaves := certSerials(t, m.clients[0].envoy)
		for _, s := range leaves {
			serials[s] = true
		}
		time.Sleep(250 * time.Millisecond)
	}
	sent, failed := load.stop()
	t.Logf("%d requests while the client's certificate took %d serials, %d failed", sent, len(serials), failed)
	if len(serials) < 3 {
		t.Errorf("the client's certificate took %d serial numbers in 20 s, want renewals every few seconds", len(serials))
	}
	if failed > 0 || sent < 20 {
		t.Errorf("%d of %d requests failed across leaf rotations, want none (and at least 20 sent)", failed, sent)
	}
}
