package bench_test

import (
	"strings"
	"testing"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/xds/translate"
)

// A proxy of the generated mesh gets, through Isthmus's translation, the
// clusters of its own namespace's services (its Sidecar scopes egress to
// them) and none of another namespace's.
func TestGeneratedMeshTranslatesWithSidecarScope(t *testing.T) {
	spec := meshgen.DefaultSpec()
	snap := snapshotOf(t, spec)
	if n := len(snap.Catalog.Services()); n != spec.Services {
		t.Fatalf("catalog has %d services, want %d", n, spec.Services)
	}
	p := proxyOf(t, spec, 0) // in ns-0
	res, err := translate.Translate(translate.NewIndex(snap), p)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range res.Clusters {
		names[c.GetName()] = true
		if strings.HasSuffix(c.GetName(), ".ns-1.svc.cluster.local") {
			t.Errorf("proxy of ns-0 got %s", c.GetName())
		}
	}
	for _, i := range spec.ServicesIn(0) {
		host := spec.Service(i).Host
		for _, subset := range []string{"", "v1", "v2", "v3"} {
			if want := translate.ClusterName(translate.Outbound, 8080, subset, host); !names[want] {
				t.Errorf("cluster %s missing", want)
			}
		}
	}
}
