package model

import (
	"time"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/discovery"
	"github.com/isthmus-mesh/isthmus/policy"
)

// Snapshot is the state of the world one push is computed from.
type Snapshot struct {
	// Version increases with every new snapshot.
	Version uint64
	// Config holds the valid Istio configuration.
	Config *policy.Config
	// Catalog holds every registry's services and endpoints, merged.
	Catalog *discovery.Catalog
	// Mesh is Istio's mesh configuration (tracing providers and defaults);
	// nil for Istio's defaults.
	Mesh *meshv1alpha1.MeshConfig
	// TrustDomain is the SPIFFE trust domain of the mesh's identities;
	// certs.DefaultTrustDomain when empty.
	TrustDomain string
	// ChangedAt is when the first change behind this snapshot reached
	// Isthmus (a configuration source or registry signalled it), for the
	// push traces; zero when unknown.
	ChangedAt time.Time
}

// MeshTrustDomain is the snapshot's trust domain, or the default.
func (s *Snapshot) MeshTrustDomain() string {
	if s == nil || s.TrustDomain == "" {
		return certs.DefaultTrustDomain
	}
	return s.TrustDomain
}
