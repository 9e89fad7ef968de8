// Package meshgen writes a synthetic mesh as the Istio YAML a user would
// apply: M services spread over K namespaces (ns-0..ns-K-1), each with a
// ServiceEntry (MESH_INTERNAL, STATIC, host svc-I.ns-J.svc.cluster.local, one
// HTTP port), P endpoints (inline or as WorkloadEntries), a DestinationRule
// with subsets v1..vS, optionally an 80/20 VirtualService, and one Sidecar
// per namespace scoping egress to "./*" and "istio-system/*".
//
// Contract:
//   - Generation is deterministic: the same Spec always gives the same files,
//     byte for byte.
//   - Service I lives in namespace ns-(I mod K); its objects are all in one
//     file, ns-J/svc-I.yaml, so a load generator changes one service by
//     rewriting one file (see Service and its setters).
//   - Endpoint addresses are configuration data only (10.x.y.z, never a
//     traffic target); VIPs are in 240.240.0.0/16.
//   - Write records the Spec as JSON in DIR/.meshgen (a name neither Isthmus
//     nor kubectl apply reads) so tools can recover the mesh shape with
//     ReadSpec.
package meshgen
