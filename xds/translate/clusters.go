package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/isthmus-mesh/isthmus/xds/model"
)

// buildClusters is not written yet.
func buildClusters(idx *Index, p *model.Proxy, scope *Scope) ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	return nil, nil
}
