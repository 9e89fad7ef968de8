// Package kube makes a Kubernetes cluster a discovery.Registry, with the
// meaning Istio gives Services, EndpointSlices and Pods. One Registry
// watches one cluster; the catalogs of several clusters (and of files) are
// joined with discovery.Merge.
//
// Contract:
//   - New takes a kubernetes.Interface (a fake clientset in tests);
//     NewForConfig a rest.Config; NewFromKubeconfig loads a kubeconfig file
//     (LoadKubeconfig). Options.ClusterID is required: it is Name(), every
//     Service's Registry and every Endpoint's Cluster.
//   - Run starts informers (no resync) on Services, EndpointSlices
//     (discovery.k8s.io/v1), Pods, Nodes and Namespaces and returns after
//     ctx ends and they have stopped. Until every informer has synced,
//     Catalog is the state file's (below) or empty, never nil; then the
//     first catalog is built at once and HasSynced turns true (WaitForSync
//     blocks for it; Start runs Run in the background and waits for it).
//     Later events rebuild the whole catalog once they have been quiet for
//     Debounce (or DebounceMax after the first), and Changes is signalled,
//     coalescing, only when the new catalog differs. Pod status and node or
//     namespace updates that leave their labels alone cause no rebuild.
//   - Durable state: with Options.StateDir, every catalog built from the
//     live cluster that differs from the one last written is written to
//     STATEDIR/CLUSTER_ID.json by package statefile (the ID escaped as a
//     URL path segment): atomically (a temporary file, synced, renamed),
//     mode 0600, the directory made 0700, at most once a second, the
//     latest first. A catalog whose file would exceed statefile.MaxSize
//     (64 MiB) is not written (logged once; the file keeps the older
//     one). New reads the file: a good one is served at once, marked stale
//     (Status.FromState), until the cluster is listed; a corrupt, oversized
//     or other cluster's file is logged at WARN, naming it, and ignored.
//   - Outages: every failed list or watch request of the informers (seen
//     by wrapping their list and watch calls, since a reflector retries a
//     refused connection without telling its watch error handler) and
//     every error their reflectors report (SetWatchErrorHandlerWithContext)
//     counts, except a watch ending, an expired resource version and
//     throttling, which a reflector handles in its stride. The first error
//     marks the cluster stale and logs one WARN line naming the cluster and
//     the error. The catalog is kept as it is, never replaced by nothing.
//     While stale the registry probes the API server every second (/readyz,
//     or the version through a fake client; 2 s timeout); once it answers,
//     a new generation of informers lists the cluster while the old catalog
//     is served, and is swapped in when synced: the catalog is rebuilt from
//     it, a WARN line gives the outage's length, and the old informers stop.
//     A new generation that fails before it syncs is replaced after the
//     next good probe, waiting 1 s, 2 s, … up to 30 s between them. Locks
//     are never held across network calls; a cluster's probes and listings
//     run on its own goroutines.
//   - Status reports Synced, Stale, FromState, LastSync (the last full
//     listing, or when the state file was written), Since (when it became
//     stale) and Error (the outage's first error).
//   - ClusterSet is a discovery.Registry ("clusters") over clusters added
//     and removed while it runs: Add (a rest.Config) or AddClient starts a
//     member Registry in the background and returns at once; Replace gives
//     a member new credentials (a new registry serving the old catalog,
//     stale, until it syncs); Remove drops it; Close removes all and waits
//     for their informers. Catalog is discovery.Merge of the members'
//     catalogs, the added ones first in the order added, then remote
//     secrets' by cluster ID, merged again only when one changed. Changes
//     is signalled when a member's catalog or the membership changes.
//     Statuses lists the members' Status in that order.
//   - WatchRemoteSecrets keeps a ClusterSet's remote clusters as Istio's
//     remote secrets say: Secrets labelled istio/multiCluster=true in the
//     system namespace (istio-system by default), each data key a cluster
//     ID and its value a kubeconfig (as istioctl create-remote-secret
//     writes it). A new secret or key adds its cluster, a changed
//     kubeconfig replaces it, a removed key or secret removes it. A key
//     whose kubeconfig does not parse, or whose cluster ID the set has from
//     a flag or another secret, is logged at WARN naming the secret
//     (namespace/name), the key and the reason, and skipped; the other keys
//     are unaffected, and a bad new kubeconfig for a running cluster leaves
//     it on its previous credentials. Clusters given by flag must be added
//     before the secrets are watched.
//   - Kubeconfigs from remote secrets never make Isthmus read a local file
//     or run a program (RemoteConfig): exec plugins, auth providers and the
//     file forms of tokens, client certificates, keys and CAs are refused,
//     in any user or cluster of the kubeconfig, as istiod refuses them by
//     default. Kubeconfig files given by flag are the operator's own and
//     may use all of these.
//   - NewCollector exposes statuses as Prometheus gauges per cluster:
//     isthmus_cluster_synced (1 listed and healthy, 0 stale or not listed
//     yet), isthmus_cluster_last_sync_timestamp_seconds and
//     isthmus_cluster_stale_seconds (0 when current). isthmus serve gives
//     it the Consul datacenters' statuses too.
//   - One Service per Kubernetes Service: hostname NAME.NAMESPACE.svc.SUFFIX
//     (DomainSuffix, default cluster.local), its namespace, labels and
//     exportTo (annotation networking.istio.io/exportTo, comma separated).
//     Addresses are its cluster IPs (both of a dual-stack service).
//     Resolution and location: ExternalName services are DNS and
//     MeshExternal, with no address; headless services (clusterIP None) are
//     ResolutionNone (pass-through) and keep their endpoints; others are
//     Static and MeshInternal.
//   - Ports: TCP ports only (UDP and SCTP are skipped). Protocol from
//     appProtocol when set, else the port name's prefix before '-' (a name
//     starting "grpc-web" is gRPC), read by discovery.ParseProtocol; an
//     unknown protocol is TCP on ports 25, 53, 3306 and 27017, else UNKNOWN.
//   - Endpoints, one per (ready endpoint, TCP service port), from the
//     EndpointSlices labelled kubernetes.io/service-name, of the service's
//     primary IP family: ready means conditions.ready unset or true and not
//     terminating (unless the service publishes not-ready addresses). The
//     address is the endpoint's first; the port is the slice port named as
//     the service port (else, for a numeric targetPort, the unnamed slice
//     port with that number). An address listed by two slices counts once.
//   - An endpoint whose targetRef pod is not in the cache yet is left out
//     until the pod arrives. From the pod: Labels (copied, so
//     security.istio.io/tlsMode passes through), ServiceAccount
//     (spec.serviceAccountName, the bare name). Network: pod label
//     topology.istio.io/network, else the namespace's, else Options.Network.
//     Locality: pod label istio-locality ('.' read as '/'), else
//     region/zone/subzone from the node's topology.kubernetes.io/region,
//     topology.kubernetes.io/zone (or their failure-domain.beta names) and
//     topology.istio.io/subzone labels, else empty; written without trailing
//     empty parts, as xds/model writes a proxy's locality. As Istio does, the
//     labels gain topology.istio.io/cluster, kubernetes.io/hostname (the
//     node), topology.istio.io/network and the locality labels when known.
//   - ExternalName services have one endpoint per port: the external name
//     at the port's number, with the service's labels.
//   - A Service labelled topology.istio.io/network with the gateway port
//     (15443, or its networking.istio.io/gatewayPort annotation) is that
//     network's east-west gateway, at its load balancer's IPs or hostnames
//     (else its external IPs): Catalog.NetworkGateways.
package kube
