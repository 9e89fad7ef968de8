// Package translate turns a model.Snapshot and one model.Proxy into the Envoy
// resources that proxy is served: listeners, route configurations, clusters,
// endpoints (and, later, secrets).
//
// Contract:
//   - Translation is a pure function: the same snapshot and proxy give
//     byte-identical resources, sorted by name; nothing is read from outside.
//   - An Index is derived once per snapshot and shared by every proxy;
//     it is immutable and safe for concurrent use.
//   - Resource names follow Istio's conventions and are built only in names.go.
//   - Every resource returned passes Validate() (see Resources.Validate).
package translate
