package translate

import (
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// The methods of this file are translation's only way to the snapshot's
// catalog and configuration; each records what it reads (see reads).

// endpoints are the endpoints of service key's port.
func (idx *Index) endpoints(key discovery.ServiceKey, port uint32) []*discovery.Endpoint {
	idx.reads.readService(key)
	return idx.Snapshot.Catalog.Endpoints(key, port)
}

// allEndpoints are every endpoint of service key.
func (idx *Index) allEndpoints(key discovery.ServiceKey) []*discovery.Endpoint {
	idx.reads.readService(key)
	return idx.Snapshot.Catalog.AllEndpoints(key)
}

// servicesByHost are the services named host, in every namespace.
func (idx *Index) servicesByHost(host string) []*discovery.Service {
	idx.reads.readServiceHost(host)
	return idx.Snapshot.Catalog.ServicesByHost(host)
}

// services lists, in catalog order, the services q admits.
func (idx *Index) services(q serviceQuery) []*discovery.Service {
	idx.reads.readQuery(q)
	var out []*discovery.Service
	for _, svc := range idx.Snapshot.Catalog.Services() {
		if q.admits(svc) {
			out = append(out, svc)
		}
	}
	return out
}

// networkGateways are the east-west gateways into network.
func (idx *Index) networkGateways(network string) []discovery.NetworkGateway {
	idx.reads.readNetworks()
	return idx.Snapshot.Catalog.NetworkGateways(network)
}

// allNetworkGateways are the east-west gateways of every network.
func (idx *Index) allNetworkGateways() []discovery.NetworkGateway {
	idx.reads.readNetworks()
	return idx.Snapshot.Catalog.Gateways()
}

// TrustDomain is the mesh's SPIFFE trust domain.
func (idx *Index) TrustDomain() string {
	idx.reads.readMesh()
	return idx.Snapshot.MeshTrustDomain()
}

// meshConfig is the mesh configuration (nil when none is given).
func (idx *Index) meshConfig() *meshv1alpha1.MeshConfig {
	idx.reads.readMesh()
	return idx.Snapshot.Mesh
}

// namespaceConfig is the configuration, for a function that reads the
// objects of kind in namespace ns and the root namespace only (such as
// policy.PeerMTLS or rbac.For).
func (idx *Index) namespaceConfig(kind policy.Kind, ns string) *policy.Config {
	idx.reads.readConfig(kind, ns, "")
	idx.reads.readConfig(kind, policy.RootNamespace, "")
	return idx.Snapshot.Config
}

// configOfKind lists every object of kind, by namespace and name.
func (idx *Index) configOfKind(kind policy.Kind) []*policy.Object {
	idx.reads.readConfig(kind, "", "")
	return idx.Snapshot.Config.List(kind)
}

// configObject is the object with key k, nil when absent or when k is the
// zero key.
func (idx *Index) configObject(k policy.Key) *policy.Object {
	if k == (policy.Key{}) {
		return nil
	}
	idx.reads.readConfig(k.Kind, k.Namespace, k.Name)
	return idx.Snapshot.Config.Get(k)
}

// allVirtualServices lists every VirtualService, resolved, in namespace
// and name order.
func (idx *Index) allVirtualServices() []*VirtualServiceRef {
	idx.reads.readConfig(policy.KindVirtualService, "", "")
	return idx.tables.virtualServices
}

// virtualServiceNamed is the VirtualService name of namespace ns, or nil.
func (idx *Index) virtualServiceNamed(ns, name string) *VirtualServiceRef {
	idx.reads.readConfig(policy.KindVirtualService, ns, name)
	for _, vs := range idx.tables.virtualServices {
		if vs.Object.Namespace == ns && vs.Object.Name == name {
			return vs
		}
	}
	return nil
}

// carriedService is the service key in this snapshot, for what InheritFrom
// carries over from the previous one: nothing is recorded, since what was
// built from the service is carried only when the change between the
// snapshots does not reach it.
func (idx *Index) carriedService(key discovery.ServiceKey) *discovery.Service {
	return idx.Snapshot.Catalog.Service(key)
}
