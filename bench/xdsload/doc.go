// Package xdsload measures an ADS control plane (Isthmus, istiod or any
// other) under the load of many sidecars: how long until every proxy has
// its configuration, how long a change takes to reach each proxy, and what
// the control plane spends doing it.
//
// Each simulated sidecar is one gRPC connection with one ADS stream (state
// of the world or delta). It identifies itself as istio-proxy does (node id
// "sidecar~IP~POD.NS~NS.svc.cluster.local" and its metadata), subscribes
// to CDS and LDS as wildcards, then to the EDS names its EDS clusters
// reference and the RDS names its HTTP connection managers reference, and
// ACKs each response as Envoy does. A response that does not decode, or
// one of whose resources (or of their typed configs known here) fails
// Validate(), is NACKed with the reason and reported.
//
// Contract:
//   - A proxy has its full configuration when CDS and LDS were accepted and
//     every EDS and RDS name they reference is present.
//   - A change is seen by a proxy at the ACK of the first response after
//     which its configuration shows the change, read from the resources
//     themselves (the new endpoint address, the new route weight, the new
//     cluster, or for a mesh-wide change any difference). Proxies that the
//     change does not concern (judged from their configuration when the
//     change is made) are not waited for.
//   - Changes are made at the configured rate; a proxy that skips an
//     intermediate version still counts as having each change it
//     supersedes. Mesh-wide changes, which alternate between two states,
//     are made one at a time, each after the previous one settled.
//   - Latencies are from the moment the change is written (or the proxy
//     connects) to the ACK: they include the control plane's file watching,
//     debouncing, translation and push.
//   - The target and the pprof address must be loopback addresses; change
//     scenarios rewrite files of the config directory and restore them at
//     the end.
//   - Resource checks rely on Istio's names ("outbound|PORT|SUBSET|HOST"
//     clusters, virtual hosts with the service FQDN among their domains).
package xdsload
