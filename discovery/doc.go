// Package discovery is where services and endpoints come from. Every source
// (ServiceEntry/WorkloadEntry files today, Kubernetes clusters later) produces
// an immutable Catalog; catalogs from several registries are merged into one
// view of the mesh.
//
// Contract:
//   - A Catalog is immutable once built and safe to share between goroutines.
//   - Services are keyed by (hostname, namespace); endpoints by service key and
//     service port number.
//   - Merge joins catalogs: a service defined by several registries is the
//     first's definition plus the ports only later ones have, with every
//     registry's endpoints and each cluster's own addresses
//     (Service.ClusterAddresses; Catalog.ForCluster shows one cluster's
//     view). Network gateways are joined too.
//   - A Catalog's JSON form (MarshalJSON, format CatalogFormat) holds it
//     whole: services, the endpoints of every service key, network
//     gateways. UnmarshalJSON restores a catalog Equal to the one encoded
//     and refuses another format, unknown fields and trailing data, so a
//     cluster's last-synced catalog can be kept on disk.
//   - A Registry's Changes channel coalesces: one receive may stand for many
//     changes, after which Catalog returns the newest state.
package discovery
