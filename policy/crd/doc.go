// Package crd reads Istio configuration from the custom resources of a
// Kubernetes API server (the config cluster), as a policy.ConfigSource.
//
// Contract:
//   - One informer per kind Isthmus reads (VirtualService, DestinationRule,
//     Gateway, ServiceEntry, WorkloadEntry, Sidecar, PeerAuthentication,
//     AuthorizationPolicy, RequestAuthentication, Telemetry), through
//     istio.io/client-go at API version v1. The API server serves an object
//     written at any version Istio serves (v1alpha3, v1beta1, v1alpha1...) at
//     v1 as well, so every object is seen whatever version it was written
//     at. A kind whose CustomResourceDefinition does not serve v1 (or is not
//     installed) is reported as a problem naming the resource, and the other
//     kinds are read normally.
//   - Every object becomes a policy.Definition with its origin (cluster,
//     kind, namespace, name, resourceVersion): the object when it passes
//     policy.Validate, else a Definition without object and the problems
//     naming the field, so that policy.Accept keeps serving its last valid
//     version. A deleted object is no longer defined.
//   - Watching can be limited to namespaces (for restricted RBAC: list and
//     watch on the kinds above in those namespaces).
//   - Watch failures are logged at WARN with the cluster and kind, once per
//     outage, and the last listed objects keep being served.
//   - With Options.WriteStatus, an object Isthmus rejects gets, through its
//     status subresource, the condition Accepted False (reason Invalid, the
//     problems as message) and the validation message Istio's analysis uses
//     for an invalid object (SchemaValidationError, IST0106); both are
//     removed when it is accepted again, other conditions left alone.
package crd
