package translate

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"sigs.k8s.io/yaml"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// explainInputs are the golden inputs whose explanations are golden too:
// a split with subsets, delegation, automatic mTLS shaped by
// PeerAuthentications at every level, and inbound policy.
var explainInputs = []string{"route-weighted-split", "route-delegate", "security-auto-mtls-peer-levels", "security-authorization"}

// Explain names, for every resource the golden proxy is served, the Istio
// objects and services that produced it (testdata/explain/NAME.yaml; run
// with -update to accept changes).
func TestExplainGolden(t *testing.T) {
	for _, name := range explainInputs {
		t.Run(name, func(t *testing.T) {
			idx, p := loadGoldenInput(t, filepath.Join(goldenIn, name+".yaml"))
			e, err := Explain(idx, p)
			if err != nil {
				t.Fatal(err)
			}
			assertExplainsEveryResource(t, idx, p, e)
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.JSONToYAML(b)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "explain", name+".yaml"), out)
		})
	}
}

// An explanation covers exactly the resources Translate gives.
func assertExplainsEveryResource(t *testing.T, idx *Index, p *model.Proxy, e *Explanation) {
	t.Helper()
	res, err := Translate(idx, p)
	if err != nil {
		t.Fatal(err)
	}
	explained := func(list []ExplainedResource) []string {
		out := make([]string, len(list))
		for i, r := range list {
			out[i] = r.Name
		}
		return out
	}
	var routes []string
	for _, r := range e.Routes {
		routes = append(routes, r.Name)
	}
	served := func(list []string) []string { return slices.Compact(list) }
	for _, c := range []struct {
		kind      string
		got, want []string
	}{
		{"listeners", explained(e.Listeners), served(namesOf(res.Listeners, (*listenerv3.Listener).GetName))},
		{"clusters", explained(e.Clusters), served(namesOf(res.Clusters, (*clusterv3.Cluster).GetName))},
		{"endpoints", explained(e.Endpoints), served(namesOf(res.Endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName))},
		{"routes", routes, served(namesOf(res.Routes, (*routev3.RouteConfiguration).GetName))},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s explained %v, served %v", c.kind, c.got, c.want)
		}
	}
}

func namesOf[T any](list []T, name func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = name(v)
	}
	return out
}
