package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchMesh sizes the generated mesh: 100 namespace directories of 11
// services each, one file per service (ServiceEntry, DestinationRule and
// VirtualService), 1,100 files in all.
const (
	benchNamespaces       = 100
	benchServicesPerSpace = 11
)

// benchServiceYAML is the configuration of one service; weight tells apart
// the versions of the file the rescan benchmark writes.
func benchServiceYAML(ns string, svc, weight int) string {
	host := fmt.Sprintf("svc-%d.%s.svc.cluster.local", svc, ns)
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-%[1]d, namespace: %[2]s}
spec:
  hosts: [%[3]s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 10.0.%[1]d.1, labels: {version: v1}}
  - {address: 10.0.%[1]d.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-%[1]d, namespace: %[2]s}
spec:
  host: %[3]s
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 100}}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-%[1]d, namespace: %[2]s}
spec:
  hosts: [%[3]s]
  http:
  - match: [{uri: {prefix: /api}}]
    timeout: 5s
    route:
    - {destination: {host: %[3]s, subset: v1}, weight: %[4]d}
    - {destination: {host: %[3]s, subset: v2}, weight: %[5]d}
  - route: [{destination: {host: %[3]s, subset: v1}}]
`, svc, ns, host, weight, 100-weight)
}

// writeBenchMesh writes the mesh under a new temporary directory and dates
// every file an hour back, as in a mesh whose configuration is settled. It
// returns the directory and the path of the file the rescan benchmark edits.
func writeBenchMesh(b *testing.B) (dir, edited string) {
	b.Helper()
	dir = b.TempDir()
	past := time.Now().Add(-time.Hour)
	for n := range benchNamespaces {
		ns := fmt.Sprintf("ns-%d", n)
		for svc := range benchServicesPerSpace {
			path := filepath.Join(dir, ns, fmt.Sprintf("svc-%d.yaml", svc))
			writeBenchFile(b, path, benchServiceYAML(ns, svc, 90))
			if err := os.Chtimes(path, past, past); err != nil {
				b.Fatal(err)
			}
		}
	}
	return dir, filepath.Join(dir, "ns-42", "svc-7.yaml")
}

func writeBenchFile(b *testing.B, path, content string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

// loadBenchMesh loads dir and fails unless every object was served.
func loadBenchMesh(b *testing.B, s *Store) *Config {
	b.Helper()
	cfg, problems := s.Load()
	if len(problems) != 0 {
		b.Fatalf("problems: %v", problems)
	}
	if want := 3 * benchNamespaces * benchServicesPerSpace; cfg.Len() != want {
		b.Fatalf("%d objects, want %d", cfg.Len(), want)
	}
	return cfg
}

func BenchmarkStoreRescan(b *testing.B) {
	b.Run("initial-load", func(b *testing.B) {
		dir, _ := writeBenchMesh(b)
		b.ReportAllocs()
		for b.Loop() {
			loadBenchMesh(b, NewStore(dir, nil, Limits{}))
		}
	})
	b.Run("one-file-changed", func(b *testing.B) {
		dir, edited := writeBenchMesh(b)
		s := NewStore(dir, nil, Limits{})
		previous := loadBenchMesh(b, s)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			writeBenchFile(b, edited, benchServiceYAML("ns-42", 7, 50+i%2))
			b.StartTimer()
			cfg := loadBenchMesh(b, s)
			if cfg == previous {
				b.Fatal("the edited file was not picked up")
			}
			previous = cfg
		}
	})
	b.Run("nothing-changed", func(b *testing.B) {
		dir, _ := writeBenchMesh(b)
		s := NewStore(dir, nil, Limits{})
		first := loadBenchMesh(b, s)
		b.ReportAllocs()
		for b.Loop() {
			if loadBenchMesh(b, s) != first {
				b.Fatal("an unchanged directory produced a new Config")
			}
		}
	})
	b.Run("periodic-reread", func(b *testing.B) { // Run's safety net
		dir, _ := writeBenchMesh(b)
		s := NewStore(dir, nil, Limits{})
		first := loadBenchMesh(b, s)
		b.ReportAllocs()
		for b.Loop() {
			if s.rescan(true).config != first {
				b.Fatal("an unchanged directory produced a new Config")
			}
		}
	})
}
