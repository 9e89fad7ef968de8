// Package server serves Envoy proxies their configuration over ADS: state of
// the world and delta xDS on one gRPC port, from the resources
// translate.Translate computes for each connected proxy.
//
// Contract:
//   - Update hands the server a new model.Snapshot. Snapshots are debounced
//     (a quiet period, bounded by a maximum wait) and then pushed: one
//     translate.Index per snapshot, one translation per connected proxy.
//   - A proxy is identified by its node id (istio-proxy's
//     "TYPE~IP~POD.NAMESPACE~DOMAIN"), parsed from the first request of its
//     first stream. A node id that does not parse ends the stream with
//     InvalidArgument. A newly connected proxy is translated at once from the
//     latest pushed snapshot.
//   - Each xDS type carries a version that is a hash of its resources'
//     content, so a type whose resources did not change is not sent again.
//   - Resources are validated and checked for consistency (every EDS cluster
//     and RDS route configuration referenced exists, and nothing else) before
//     they are served. A proxy whose translation fails, or yields invalid or
//     inconsistent resources, keeps its previous resources; the failure is
//     logged and counted.
//   - Resource objects returned by translation are shared, never copied or
//     modified: proxies that are given the same object share it.
//   - Handler serves /metrics (isthmus_* metrics, own registry), /healthz,
//     /readyz, /debug/proxies and /debug/config_dump?proxy=ID; the dump
//     names secrets but never shows their content.
//   - Stop refuses new streams, ends the open ones and stops pushing.
package server
