// Package policy reads Istio configuration: it decodes Kubernetes-style YAML
// documents into istio.io/api types, validates them as strictly as Istio does,
// and keeps an immutable, indexed Config snapshot of the last valid version of
// every object.
//
// Contract:
//   - Decode never panics; every problem is a *ConfigError naming the file,
//     document, kind/namespace/name and field.
//   - A Config is immutable once built; readers may share it freely.
//   - The directory Store serves the last valid version of each object: an
//     object that becomes invalid keeps its previous version, a removed file
//     removes its objects, a file with one bad document still yields its good
//     ones.
package policy
