package server

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Views that are given the same resources (objects built once and shared,
// or equal ones built apart) are served one list, checked once: in a mesh
// without Sidecars every view's clusters are one typeResources.
func TestViewsWithTheSameResourcesShareOneList(t *testing.T) {
	prep := newPreparer()
	a, b := edsCluster("outbound|80||a.ns.svc.cluster.local"), edsCluster("outbound|80||b.ns.svc.cluster.local")
	oneView, err := prepareType(resource.ClusterType, []*clusterv3.Cluster{a, b}, nil, prep, false)
	if err != nil {
		t.Fatal(err)
	}
	otherView, err := prepareType(resource.ClusterType, []*clusterv3.Cluster{a, b}, nil, prep, false)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := prepareType(resource.ClusterType, []*clusterv3.Cluster{edsCluster("outbound|80||b.ns.svc.cluster.local"), a}, nil, prep, false)
	if err != nil {
		t.Fatal(err)
	}
	reordered, err := prepareType(resource.ClusterType, []*clusterv3.Cluster{b, a}, nil, prep, false)
	if err != nil {
		t.Fatal(err)
	}
	if oneView != otherView || oneView != rebuilt || oneView != reordered {
		t.Error("views given the same clusters are served different lists")
	}
	fewer, err := prepareType(resource.ClusterType, []*clusterv3.Cluster{a}, nil, prep, false)
	if err != nil {
		t.Fatal(err)
	}
	if fewer == oneView || len(fewer.list) != 1 || fewer.version == oneView.version {
		t.Errorf("a view with one cluster is served %d, version %s", len(fewer.list), fewer.version)
	}

	endpoints, err := prepareType(resource.EndpointType, []*endpointv3.ClusterLoadAssignment{loadAssignment(a.Name, nil)}, nil, prep, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := prep.referencesMatch(oneView, endpoints); err == nil {
		t.Error("b's load assignment is missing, and the lists are found consistent")
	}
	if err := prep.referencesMatch(fewer, endpoints); err != nil {
		t.Errorf("consistent lists refused: %v", err)
	}
}
