// Package meshgen writes a synthetic mesh as the Istio YAML a user would
// apply: M services spread over K namespaces (ns-0..ns-K-1), each with a
// ServiceEntry (MESH_INTERNAL, STATIC, host svc-I.ns-J.svc.cluster.local, one
// HTTP port), P endpoints (inline or as WorkloadEntries), a DestinationRule
// with subsets v1..vS, optionally an 80/20 VirtualService, and one Sidecar
// per namespace scoping egress to "./*" and "istio-system/*". In
// Kubernetes mode (Spec.Kubernetes) the services and endpoints are
// Kubernetes objects written by KubeMesh instead, and the files hold only
// the DestinationRules, VirtualServices and Sidecars.
//
// Contract:
//   - Generation is deterministic: the same Spec always gives the same files,
//     byte for byte, and the same Kubernetes objects.
//   - Service I lives in namespace ns-(I mod K); its objects are all in one
//     file, ns-J/svc-I.yaml, so a load generator changes one service by
//     rewriting one file (see Service and its setters).
//   - Endpoints carry the labels app=svc-I, version (v1..vS round robin) and
//     security.istio.io/tlsMode=istio, and service account svc-I.
//   - Endpoint addresses are configuration data only (10.x.y.z, never a
//     traffic target); VIPs are in 240.240.0.0/16.
//   - Write records the Spec as JSON in DIR/.meshgen (a name neither Isthmus
//     nor kubectl apply reads) so tools can recover the mesh shape with
//     ReadSpec.
//   - KubeMesh gives discovery/kube what the file mode gives
//     discovery/serviceentry: one selector-less Service per service
//     (cluster IP its VIP, port "http"), one Pod per endpoint (named by
//     endpoint and address, its labels and service account, status.podIP
//     set through UpdateStatus, gated from scheduling) and one
//     EndpointSlice listing them ready. Every write is create or update, so
//     applying the same mesh again writes nothing; only objects carrying
//     OwnerAnnotation are ever deleted. SetEndpoints creates new pods before
//     the EndpointSlice names them and deletes old ones after it no longer
//     does. With KubeOptions.Istio the routing config is also applied as
//     Istio custom resources.
package meshgen
