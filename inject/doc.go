// Package inject is Isthmus's sidecar injection webhook, istiod's
// "sidecar-injector.istio.io": the Kubernetes API server sends it every
// pod being created, and it answers with a JSON patch adding the sidecar.
//
// Contract:
//   - Decide applies Istio's rules: namespace label istio-injection=enabled
//     (default revision) or istio.io/rev=REVISION; in a namespace with
//     neither, pod label istio.io/rev or sidecar.istio.io/inject=true; a
//     pod's sidecar.istio.io/inject other than true (label over
//     annotation), namespace label istio-injection=disabled, Kubernetes'
//     own namespaces, hostNetwork pods and pods already injected
//     (sidecar.istio.io/status, or a proxy container) get no sidecar.
//   - Pod returns the injected copy of a pod for a Config, in one of two
//     modes. ModeIstioAgent is what istiod's injection template emits:
//     istio-init running istio-iptables (outbound to 15001, inbound to
//     15006, uid 1337 and ports 15090, 15021, 15020 excluded) and
//     istio-proxy running `pilot-agent proxy sidecar` with CA_ADDR,
//     PROXY_CONFIG (discoveryAddress = Config.DiscoveryAddress), the pod's
//     identity from the downward API and ISTIO_META_* node metadata
//     (CLUSTER_ID, NETWORK, WORKLOAD_NAME, MESH_ID...), plus the volumes
//     istio-agent expects. ModeIsthmus is Isthmus's plain-Envoy sidecar:
//     `isthmus capture` (package iptables), `isthmus agent --once` then
//     `isthmus agent` as a native sidecar writing the credential to an
//     emptyDir, `isthmus bootstrap` writing Envoy's bootstrap (secure
//     port, delta xDS, file-watched SDS, node id and metadata from the
//     downward API as istio-proxy sends them), and Envoy as uid 1337, a
//     native sidecar.
//     Both mount the istio-token projected service-account token
//     (audience istio-ca) and the istio-ca-root-cert ConfigMap.
//   - The pod's annotations are honoured: proxy.istio.io/config
//     (proxyMetadata, concurrency, holdApplicationUntilProxyStarts;
//     unknown fields are an error) and traffic.sidecar.istio.io/
//     includeInboundPorts, excludeInboundPorts, excludeOutboundPorts,
//     excludeOutboundIPRanges in the capture arguments. Labels
//     security.istio.io/tlsMode=istio and the canonical name and revision
//     are added unless present; sidecar.istio.io/status records what was
//     injected.
//   - Patch is one JSON patch "add" per changed top-level field (labels,
//     annotations, initContainers, containers, volumes).
//   - Handler serves admission.k8s.io/v1 AdmissionReviews at Path
//     ("/inject", as istiod) with webhook.AdmissionHandler's request
//     checks, and at /inject/cluster/ID and /inject/cluster/ID/net/NET
//     (istiod's paths for remote clusters' webhooks), which inject with
//     that cluster ID (and network) instead of Config's; namespaces are
//     still looked up through Options.Namespaces. It fails open: a pod it cannot decode, whose namespace it
//     cannot read, or whose annotation it cannot parse is admitted
//     unchanged with a warning. Pair it with failurePolicy Ignore, so that
//     pods are created while Isthmus is down.
package inject
