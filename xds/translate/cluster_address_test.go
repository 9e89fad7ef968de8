package translate

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// A TCP service defined in two Kubernetes clusters has a ClusterIP in each;
// each cluster's sidecars listen for it at their own cluster's ClusterIP,
// where their applications connect.
func TestSidecarsListenAtTheirClustersServiceAddress(t *testing.T) {
	mysql := func(cluster, vip string) *discovery.Catalog {
		svc := &discovery.Service{
			ServiceKey: discovery.ServiceKey{Hostname: "mysql.db.svc.cluster.local", Namespace: "db"},
			Addresses:  []string{vip}, Ports: []discovery.Port{{Name: "tcp", Number: 3306, Protocol: discovery.ProtocolTCP}},
			ClusterAddresses: map[string][]string{cluster: {vip}}, Registry: cluster,
		}
		return discovery.NewCatalog([]*discovery.Service{svc}, nil)
	}
	snap := &model.Snapshot{Version: 1, Config: policy.NewConfig(nil),
		Catalog: discovery.Merge(mysql("east", "10.96.0.5"), mysql("west", "10.100.0.9"))}
	tr := NewTranslator(NewIndex(snap))
	for cluster, want := range map[string]string{"east": "10.96.0.5_3306", "west": "10.100.0.9_3306"} {
		md, _ := structpb.NewStruct(map[string]any{"NAMESPACE": "app", "CLUSTER_ID": cluster})
		p, err := model.ParseNode(&corev3.Node{Id: "sidecar~10.0.0.1~app-1.app~app.svc.cluster.local", Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		res := assertSameAsTranslate(t, tr, p)
		var names []string
		for _, l := range res.Listeners {
			names = append(names, l.GetName())
		}
		if !slices.Contains(names, want) {
			t.Errorf("cluster %s: listeners %v, want %s", cluster, names, want)
		}
	}
}
