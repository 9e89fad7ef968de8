package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// TestRestartKeepsTheMeshRoot: Isthmus killed (SIGKILL) and restarted on
// its state directory while sidecars speak STRICT mTLS, each request on a
// new connection: no request fails, the Envoys reconnect on their own, and
// they trust the same root before and after.
func TestRestartKeepsTheMeshRoot(t *testing.T) {
	t.Parallel()
	m := startMigrationMesh(t)
	m.converge(t, "mesh STRICT", m.apply(t, meshStrictYAML), map[int]bool{migrationPort: true, migrationPlainPort: true})
	rootsBefore := caSerials(t, m.clients[0].envoy)

	load := m.startLoad(t)
	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), applyTimeout)
	defer cancel()
	if err := m.isthmus.KillAndRestart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range m.clients {
		waitReconnected(t, c)
	}
	time.Sleep(2 * time.Second) // new workload certificates, new handshakes
	sent, failed := load.stop()
	t.Logf("%d requests across the restart, %d failed", sent, failed)
	if failed > 0 || sent < 20 {
		t.Errorf("%d of %d requests failed across the restart, want none (and at least 20 sent)", failed, sent)
	}
	if after := caSerials(t, m.clients[0].envoy); !slices.Equal(rootsBefore, after) {
		t.Errorf("trusted roots %v after the restart, want %v as before", after, rootsBefore)
	}
}

// migrationLoad sends requests through every client to the strict port
// until stopped, counting failures.
type migrationLoad struct {
	sent, failed atomic.Int64
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

func (m *migrationMesh) startLoad(t *testing.T) *migrationLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	l := &migrationLoad{cancel: cancel}
	for _, c := range m.clients {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				r, err := c.http[migrationPort].Get(ctx, migrationHost, "/", nil)
				if ctx.Err() != nil {
					return
				}
				l.sent.Add(1)
				if err != nil || r.Upstream != m.apps[migrationPort].Name {
					l.failed.Add(1)
					t.Logf("%s: %d from %q (%v)", c.name, r.Status, r.Upstream, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *migrationLoad) stop() (sent, failed int64) {
	l.cancel()
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load()
}

// waitReconnected waits until c's Envoy has opened a second connection to
// Isthmus and is connected.
func waitReconnected(t *testing.T, c *migrationClient) {
	t.Helper()
	waitUntil(t, c.name+" to reconnect", func() bool {
		stats, err := c.envoy.Stats(t.Context())
		return err == nil && stats["cluster.xds-grpc.upstream_cx_total"] >= 2 && stats["control_plane.connected_state"] == 1
	})
}

// caSerials are the serial numbers of the roots e trusts (Envoy's /certs).
func caSerials(t *testing.T, e *localmesh.Envoy) []string {
	t.Helper()
	roots, _ := certSerials(t, e)
	if len(roots) == 0 {
		t.Fatalf("%s trusts no root", e.Name)
	}
	return roots
}

// certSerials are the serial numbers, sorted and each once, of the roots
// e trusts and of the certificates it presents (Envoy's /certs).
func certSerials(t *testing.T, e *localmesh.Envoy) (roots, leaves []string) {
	t.Helper()
	body, err := e.Admin(t.Context(), "/certs")
	if err != nil {
		t.Fatal(err)
	}
	type serials []struct {
		SerialNumber string `json:"serial_number"`
	}
	var doc struct {
		Certificates []struct {
			CACert    serials `json:"ca_cert"`
			CertChain serials `json:"cert_chain"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("/certs: %v", err)
	}
	add := func(out []string, list serials) []string {
		for _, c := range list {
			if !slices.Contains(out, c.SerialNumber) {
				out = append(out, c.SerialNumber)
			}
		}
		return out
	}
	for _, c := range doc.Certificates {
		roots, leaves = add(roots, c.CACert), add(leaves, c.CertChain)
	}
	slices.Sort(roots)
	slices.Sort(leaves)
	return roots, leaves
}
