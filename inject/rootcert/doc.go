// Package rootcert publishes the mesh roots into every namespace of a
// cluster as the ConfigMap istio-ca-root-cert (key root-cert.pem), as
// istiod does: the injected sidecars mount it to trust Isthmus's secure
// port (istio-agent, and isthmus agent and bootstrap).
//
// Contract:
//   - Sync makes one pass: two LISTs (namespaces, and the ConfigMaps named
//     ConfigMapName), then a create for each namespace missing it and an
//     update for each holding other roots; Kubernetes' own namespaces
//     (kube-system, kube-public, kube-node-lease) and terminating ones are
//     left out. Errors are joined, each naming its namespace; one
//     namespace's failure does not stop the others.
//   - Run calls Sync at start and every Options.Interval until its context
//     ends, logging a failed pass once per distinct error; it never ends
//     on an error.
//   - Only ConfigMaps labelled LabelManaged are updated; one made by
//     someone else is left alone and reported.
package rootcert
