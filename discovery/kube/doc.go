// Package kube makes a Kubernetes cluster a discovery.Registry, with the
// meaning Istio gives Services, EndpointSlices and Pods. One Registry
// watches one cluster; the catalogs of several clusters (and of files) are
// joined with discovery.Merge.
//
// Contract:
//   - New takes a kubernetes.Interface (a fake clientset in tests);
//     NewFromKubeconfig loads a kubeconfig file. Options.ClusterID is
//     required: it is Name(), every Service's Registry and every Endpoint's
//     Cluster.
//   - Run starts informers (no resync) on Services, EndpointSlices
//     (discovery.k8s.io/v1), Pods, Nodes and Namespaces and returns after
//     ctx ends and they have stopped. Catalog is empty, never nil, until
//     every informer has synced; then the first catalog is built at once
//     and HasSynced turns true (WaitForSync blocks for it; Start runs Run in the
//     background and waits for it). Later events
//     rebuild the whole catalog once they have been quiet for Debounce (or
//     DebounceMax after the first), and Changes is signalled, coalescing,
//     only when the new catalog differs. Pod status and node or namespace
//     updates that leave their labels alone cause no rebuild.
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
