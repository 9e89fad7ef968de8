package bench_test

import (
	"testing"

	"github.com/isthmus-mesh/isthmus/bench"
	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
	"github.com/isthmus-mesh/isthmus/xds/model"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// largeMesh is issue 2's benchmark mesh: 1,000 services × 3 subsets in 100
// namespaces, 10 VirtualServices per namespace (one per service), 3
// endpoints each; sidecars adds a Sidecar per namespace.
func largeMesh(sidecars bool) meshgen.Spec {
	return meshgen.Spec{
		Services: 1000, Namespaces: 100, EndpointsPerService: 3, Subsets: 3, Port: 8080,
		VirtualServicesPerNamespace: 10, Sidecars: sidecars,
	}
}

// proxyOf is simulated sidecar k of the mesh, as Isthmus parses it.
func proxyOf(tb testing.TB, spec meshgen.Spec, k int) *model.Proxy {
	tb.Helper()
	node, err := xdsload.IdentityFor(spec, k).Node()
	if err != nil {
		tb.Fatal(err)
	}
	p, err := model.ParseNode(node)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func snapshotOf(tb testing.TB, spec meshgen.Spec) *model.Snapshot {
	tb.Helper()
	snap, err := bench.MeshSnapshot(spec, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// BenchmarkTranslate1000Services translates the large mesh for one proxy,
// with the proxy's namespace scoped by a Sidecar (as in a tuned mesh) and
// without (every proxy sees all 1,000 services).
func BenchmarkTranslate1000Services(b *testing.B) {
	for _, sidecars := range []bool{true, false} {
		name := map[bool]string{true: "sidecar-scoped", false: "unscoped"}[sidecars]
		b.Run(name, func(b *testing.B) {
			spec := largeMesh(sidecars)
			idx := translate.NewIndex(snapshotOf(b, spec))
			p := proxyOf(b, spec, 0)
			var res *translate.Resources
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if res, err = translate.Translate(idx, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(res.Clusters)), "clusters")
			b.ReportMetric(float64(len(res.Routes)), "routes")
		})
	}
}

// BenchmarkNewIndex1000Services derives the translation index of the large
// mesh, done once per snapshot.
func BenchmarkNewIndex1000Services(b *testing.B) {
	snap := snapshotOf(b, largeMesh(true))
	b.ReportAllocs()
	for b.Loop() {
		translate.NewIndex(snap)
	}
}
