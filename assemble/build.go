package assemble

import (
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/discovery/serviceentry"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Settings are the parts of a snapshot given by flags rather than sources.
type Settings struct {
	// TrustDomain is the mesh's SPIFFE trust domain; empty for the default.
	TrustDomain string
	// Mesh is the mesh configuration; nil for Istio's defaults.
	Mesh *meshv1alpha1.MeshConfig
	// NetworkGateways are the east-west gateways given by flag.
	NetworkGateways []discovery.NetworkGateway
}

// Build assembles one snapshot from cfg and the registries' catalogs.
func Build(version uint64, cfg *policy.Config, settings Settings, catalogs ...*discovery.Catalog) *model.Snapshot {
	files := serviceentry.Build(cfg)
	if len(settings.NetworkGateways) > 0 {
		files = files.WithGateways(settings.NetworkGateways)
	}
	merged := files
	if len(catalogs) > 0 {
		merged = discovery.Merge(append([]*discovery.Catalog{files}, catalogs...)...)
	}
	return &model.Snapshot{Version: version, Config: cfg, Catalog: merged, TrustDomain: settings.TrustDomain, Mesh: settings.Mesh}
}
