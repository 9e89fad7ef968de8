// Package translate turns a model.Snapshot and one model.Proxy into the Envoy
// resources that proxy is served: listeners, route configurations, clusters,
// endpoints (and, later, secrets).
//
// Contract:
//   - Translation is a pure function: the same snapshot and proxy give
//     byte-identical resources, sorted by name; nothing is read from outside.
//   - An Index is derived once per snapshot and shared by every proxy;
//     it is immutable and safe for concurrent use.
//   - Translation reads a proxy only through its outbound view (namespace,
//     Sidecar, the labels some selector tells apart, capture mode, address
//     families...; see outboundView) and, for its inbound side, its inbound
//     targets. A Translator (one per snapshot, safe for concurrent use)
//     gives the same resources as Translate, building each part once per
//     distinct view (and targets) and handing proxies the same objects.
//   - Resource names follow Istio's conventions and are built only in names.go.
//   - Every resource returned passes Validate() (see Resources.Validate).
package translate
