// Package server serves Envoy proxies their configuration over ADS: state of
// the world and delta xDS on one gRPC port, from the resources translation
// computes for each connected proxy.
//
// Contract:
//   - Update hands the server a new model.Snapshot. Snapshots are debounced
//     (a quiet period, bounded by a maximum wait) and then pushed: one
//     translate.Index and one translate.Translator per snapshot, which builds
//     what proxies share once; every connected proxy is translated with it,
//     on GOMAXPROCS workers. With Options.Translate, that function
//     translates each proxy instead. The proxies whose view a change cannot
//     reach (translate.Translator.InheritFrom) keep the very resources they
//     are served: an endpoint, service or routing change is translated,
//     prepared and sent only for the proxies it concerns.
//   - A proxy is identified by its node id (istio-proxy's
//     "TYPE~IP~POD.NAMESPACE~DOMAIN"), parsed from the first request of its
//     first stream. A node id that does not parse ends the stream with
//     InvalidArgument. A newly connected proxy is translated at once from the
//     latest pushed snapshot, on the same workers as pushes, in the order
//     proxies connect. Of the node metadata only the fields
//     model.ParseNode reads are decoded.
//   - A request's node is bounded: its id to MaxNodeIDBytes (1 KiB), each
//     metadata entry to MaxNodeMetadataValueBytes (64 KiB), the whole node
//     to MaxNodeBytes (256 KiB); istio-proxy's is a few KiB. The codec
//     checks them on the encoded request and decodes nothing of a node that
//     breaks one; the stream ends with InvalidArgument naming the limit.
//     Requests are read up to 4 MiB. Refused nodes are counted by reason in
//     isthmus_xds_rejected_nodes_total.
//   - What clients control reaches the logs bounded: node ids are cut to
//     256 bytes, messages and errors to 1 KiB. Events a client can repeat
//     at will (a proxy rejecting a type, streams refused for one reason)
//     are logged at most once per 10 s per proxy and type, or per reason:
//     the first at once, the next line saying how many it stands for
//     ("repeated"). Every rejection is counted in isthmus_xds_nacks_total
//     (types the server does not serve as "other"); /debug/proxies keeps
//     the last message of each, cut to 1 KiB.
//   - Each xDS type carries a version that is a hash of its resources'
//     content, so a type whose resources did not change is not sent again;
//     in delta xDS each resource carries the hash of its own content.
//   - Each distinct resource is validated and marshalled once, whatever the
//     number of proxies and streams it is sent to (resources are recognised
//     by identity, then by content), and keeps its encoding and version
//     while it does not change. One type's list of resources is one object
//     for every proxy and view served the same list (interned by content
//     version; a list of the very objects of one prepared earlier in the
//     push is found by their identities before any is looked up). Responses are built from these encodings, never marshalled
//     per stream: a gRPC codec writes them referring to the prepared
//     encodings of large resources (512 B and more) instead of copying them
//     (in delta responses, the wrapper around each prepared resource is
//     encoded once too), and interns the resource names requests carry. A
//     type sent whole (every resource) to a second stream gets one
//     contiguous encoding of its resources, which every later response
//     carrying the whole type refers to (whole.go).
//   - Both protocols' streams are the server's own (sotw.go, delta.go): a
//     type is answered when a request of it waits for its response and the
//     proxy's resources owe it something. A wildcard state-of-the-world
//     type (CDS, LDS) is full state: every resource, whenever its version
//     is not the one the stream was told or says it holds. The types
//     subscribed to by name (EDS, RDS, SDS) are not full state in xDS (a
//     resource left out is not removed): their state-of-the-world responses
//     carry the subscribed resources the stream was not sent at their
//     version, or none but the new version when only others changed. A
//     delta response carries the resources the stream subscribes to and
//     does not hold at their version, and the removal of those it holds
//     that are gone; the first request of a wildcard subscription is
//     answered even when empty. A stream keeps no map of names: it holds
//     the list it was last answered from (shared with every proxy served
//     that list) and subscribes to a name set shared by every stream
//     subscribing to the same names (namesets.go), so its state is a few
//     pointers per type; streams alike are owed one diff, found once. The
//     many names of a state-of-the-world request (every acknowledgement
//     of EDS names every load assignment subscribed to) are compared,
//     still encoded, with the set its stream, or another, subscribes to,
//     and decoded only when no set has exactly those names
//     (codec_names.go); names repeating the encoding a stream's set
//     remembers are compared where they lie in gRPC's frames, neither
//     walked nor copied. A state-of-the-world request carrying the nonce of an older response
//     than its type's last is counted (an acknowledgement or rejection)
//     and otherwise ignored. A version a proxy rejected is not sent again
//     until the version changes. Responses go out in ADS order (CDS, EDS,
//     LDS, RDS, SDS); a proxy that connects before the first push waits for
//     it.
//   - Resources are validated and checked for consistency (every EDS cluster
//     and RDS route configuration referenced exists, and nothing else) before
//     they are served. A proxy whose translation fails, or yields invalid or
//     inconsistent resources, keeps its previous resources; the failure is
//     logged and counted.
//   - Resource objects returned by translation are shared, never copied or
//     modified: proxies that are given the same object share it.
//   - Handler serves /metrics (isthmus_* metrics, own registry), /healthz,
//     /readyz, /debug/proxies, /debug/config_dump?proxy=ID and
//     /debug/envoy_config_dump?proxy=ID (the same in the shape of Envoy's
//     admin ConfigDump); the dumps name secrets but never show their
//     content. /debug/proxies states each type of each proxy SYNCED (the
//     version served is acknowledged), NOT SENT, STALE or NACKED (its last
//     response was rejected, until a version is acknowledged again), with
//     the proxy's cluster and the replica's Options.Name.
//   - The debug types istioctl asks istiod for are answered on the ADS
//     ports (state of the world only), once per request, from the state at
//     that moment: istio.io/debug/syncz (a CSDS ClientConfig per connected
//     proxy, named POD.NAMESPACE as istiod names proxies) and
//     istio.io/debug/config_dump (one proxy's dump, named by its node id,
//     POD.NAMESPACE or a part of its node id; empty when it is not
//     connected to this replica). Their
//     responses carry a control plane identifier naming the replica. A
//     stream that asks only debug types attaches no proxy. Through Serve
//     any caller may ask; through ServeTLS only a proven identity of
//     Options.SystemNamespace, or of the proxy's namespace for its config
//     dump (others end with Unauthenticated or PermissionDenied, counted in
//     isthmus_xds_auth_failures_total).
//   - With Options.Tracer, each push is a trace: a root span from its
//     first Update to the last acknowledgement of what it set (or ackWait,
//     or the next push), with children for the debounce, indexing,
//     translation (views built and kept), preparation, the responses of
//     each type written to the streams, and the acknowledgements. Phases
//     run on many workers are one span from the first start to the last
//     end, with the runs and busy time as attributes.
//   - Serve takes plaintext connections, ServeTLS (Options.TLS) TLS ones.
//     A stream through ServeTLS is authenticated (Options.Authenticator)
//     before its first response; without a valid credential it ends with
//     Unauthenticated, and if its node claims another namespace or service
//     account than the proven ones, with PermissionDenied; both counted in
//     isthmus_xds_auth_failures_total{reason}. A proxy that proved no
//     identity is served the secrets without private key (the roots) and
//     its resources waiting for the others, unless
//     Options.InsecureIdentities; a proxy id already connected with another
//     proof is refused.
//   - Drain(ctx, period) is the graceful end: /readyz fails, the listener
//     closes and connections get GOAWAY at once, new streams are refused
//     with Unavailable; the open streams are then ended with Unavailable
//     ("isthmus is draining"), one proxy after the other, evenly across
//     period (all at once when ctx ends), each as soon as it has a watch
//     open (Envoy always has); proxies are pushed changes until then. After
//     at most a second more for streams to close, Drain stops the server.
//   - Stop refuses new streams, ends the open ones at once and stops
//     pushing.
package server
