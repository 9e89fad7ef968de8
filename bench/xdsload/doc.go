// Package xdsload measures an ADS control plane (Isthmus, istiod or any
// other) under the load of many sidecars: how long until every proxy has
// its configuration, how long a change takes to reach each proxy, and what
// the control plane spends doing it.
//
// Each simulated sidecar is one gRPC connection with one ADS stream (state
// of the world or delta). It identifies itself as istio-proxy does (node id
// "sidecar~IP~POD.NS~NS.svc.cluster.local" and its metadata), subscribes
// to CDS and LDS as wildcards, then, after ACKing them, to the EDS names
// its EDS clusters reference, the RDS names its HTTP connection managers
// reference and the SDS secrets (envoy.extensions.transport_sockets.tls.v3.
// Secret) its clusters and listeners reference with an ADS config source
// (in TLS transport sockets, transport socket matches, filter chains or
// anywhere else in a known typed config), and unsubscribes from names no
// longer referenced. It ACKs each response as Envoy does. A response that
// does not decode, or one of whose resources (or of their typed configs
// known here) fails Validate(), is NACKed with the reason and reported.
//
// Each distinct resource encoding is decoded and validated once per run,
// whatever the number of proxies receiving it: a bounded cache shared by
// the proxies maps (type URL, 128-bit hash of the resource's bytes) to what
// a proxy keeps of it (name, referenced names, a digest of its content,
// the facts change detectors read) or to the reason it is rejected, which
// each receiving proxy then NACKs. Responses are read off the wire without
// unmarshalling the resources the cache already holds.
//
// Contract:
//   - A proxy has its full configuration when CDS and LDS were accepted and
//     every EDS, RDS and SDS name they reference is present. Secrets
//     referenced with another config source (istio-agent's SDS socket, the
//     bootstrap) are neither subscribed to nor waited for; with no secret
//     referenced over ADS, SDS is never asked for.
//   - A change is seen by a proxy at the ACK of the first response after
//     which its configuration shows the change, read from the resources
//     themselves (the new endpoint address, the new route weight, the new
//     cluster, or for a mesh-wide change any difference, a rotated secret
//     included). A new service or a mesh-wide change shows only once every
//     secret the configuration references has arrived, as Envoy keeps a
//     cluster or listener warming until then. Proxies that the change does
//     not concern (judged from their configuration when the change is made)
//     are not waited for.
//   - A Fleet (Connect) is the sidecars without the scenarios, for callers
//     that make the changes themselves: Fleet.Change makes one and waits
//     for it; a Phase (Fleet.StartPhase) tracks changes made by the caller
//     at its own pace, from several goroutines at once, each measured from
//     the moment the caller marks it applied (Change.MarkApplied), with
//     the detectors DetectEndpointWhere and DetectRouteWeight. Options.
//     Identities gives proxies identities of the caller's choosing (their
//     CLUSTER_ID included).
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
