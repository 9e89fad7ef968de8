// Package translate turns a model.Snapshot and one model.Proxy into the Envoy
// resources that proxy is served: listeners, route configurations, clusters
// and endpoints. Secrets are referenced by name (SDS over ADS: the
// workload's "default" and "ROOTCA", a gateway's "kubernetes://NAME"); the
// server supplies their content.
//
// Contract:
//   - Translation is a pure function: the same snapshot and proxy give
//     byte-identical resources, sorted by name; nothing is read from outside.
//   - An Index is derived once per snapshot and shared by every proxy;
//     it is immutable and safe for concurrent use.
//   - Translation reads a proxy only through its outbound view (namespace,
//     Sidecar, the labels some selector tells apart, capture mode, address
//     families, locality, network...; see outboundView) and, for its
//     inbound side, its inbound targets. A Translator (one per snapshot, safe for concurrent use)
//     gives the same resources as Translate, building each part once per
//     distinct view (and targets) and handing proxies the same objects;
//     across views it shares the clusters of a service port, the routes of
//     a virtual host and the virtual host itself whenever their inputs
//     (portClustersInput, the routes' traced view, virtualHostInput) agree.
//     A Translator can take over from the previous snapshot's the parts a
//     change cannot reach (InheritFrom), still giving exactly what
//     Translate gives.
//   - Translation reads the snapshot only through Index methods, which
//     record what each build read (services and endpoints, hosts' routing,
//     configuration objects by kind, namespace and name, mesh settings,
//     network gateways, services' mesh identities); what a change reaches
//     is computed from those records, never listed by hand.
//     TestOnlyTheIndexReadsTheSnapshot keeps other files off the snapshot.
//   - Resource names follow Istio's conventions and are built only in names.go.
//   - Every resource returned passes Validate() (see Resources.Validate).
//   - Sidecars: outbound clusters, routes and listeners from VirtualService,
//     DestinationRule (with automatic mTLS, which speaks plaintext to an
//     endpoint whose PeerAuthentication (workload, namespace or mesh; port
//     level first) is DISABLE, or ISTIO_MUTUAL; locality load
//     balancing) and Sidecar; endpoints on other networks through their
//     east-west gateways; inbound listeners whose chains follow
//     PeerAuthentication and run RequestAuthentication and
//     AuthorizationPolicy filters (package rbac). Gateways (router proxies):
//     the listeners and routes of the Gateways selecting them.
package translate
