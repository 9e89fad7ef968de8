// Package serviceentry turns ServiceEntry and WorkloadEntry objects into a
// discovery.Catalog, with the meaning Istio gives them.
//
// Contract:
//   - Build is a pure function of the Config: the same objects always give the
//     same (sorted) Catalog. Services and endpoints carry Registry/Cluster "file".
//   - One Service per (host, namespace of the ServiceEntry). The first
//     ServiceEntry (in namespace/name order) that defines a host in a
//     namespace wins.
//   - Endpoints, one per (workload, service port):
//   - inline spec.endpoints, or the WorkloadEntry objects of the same
//     namespace whose labels (object labels overlaid by spec labels) match
//     spec.workloadSelector;
//   - the endpoint port is the workload's port of the same name, else the
//     service port's targetPort, else its number; a unix:// address keeps
//     its address as written and has port 0;
//   - resolution DNS or DNS_ROUND_ROBIN without endpoints or selector: the
//     host itself is the endpoint, at targetPort or the port number;
//   - resolution NONE: no endpoints.
//   - Endpoint.ServiceAccount is the account name as written (not a SPIFFE
//     URI); its namespace is the service's namespace. Endpoint.Locality is
//     spec locality, else the "istio-locality" label with '.' read as '/'.
//   - Registry is the file-mode discovery.Registry: Update rebuilds the
//     catalog and signals Changes only when the result differs.
package serviceentry
