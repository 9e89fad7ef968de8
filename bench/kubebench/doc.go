// Package kubebench measures Isthmus on real Kubernetes API servers (the
// speed part of "Kubernetes as Isthmus's home"): how long an EndpointSlice
// change and a VirtualService custom resource change take from the API
// write to the ACK of every sidecar concerned, under steady endpoint churn,
// and what Isthmus spends doing it. cmd/kubebench is its command line.
//
// A run, in order:
//
//  1. starts two clusters with deploy/kubeharness (etcd and kube-apiserver
//     on loopback): aws (Service CIDR 10.96.0.0/16), the config cluster,
//     with Istio's CRDs, and gcp (10.97.0.0/16). Each also gets a
//     ServiceCIDR object for 240.0.0.0/8, so meshgen's VIPs (240.240.HI.LO)
//     are valid ClusterIPs;
//  2. writes into each cluster the same generated mesh through
//     meshgen.KubeMesh (Namespaces, ServiceAccounts, selector-less
//     Services, Pods with their status, EndpointSlices): Options.
//     PodsPerCluster pods, EndpointsPerService per service, one namespace
//     per 10 services unless told. The gcp pods have addresses of their
//     own (AddressIn: 10.(128+HI).LO.x where aws has 10.HI.LO.x), so each
//     service has distinct endpoints in each cluster. aws also gets each
//     service's DestinationRule (subsets v1..v3) and 80/20 VirtualService
//     and each namespace's Sidecar (egress to its own namespace and
//     istio-system) as custom resources;
//  3. runs `isthmus serve --config-kubeconfig AWS --kubeconfig aws=AWS
//     --kubeconfig gcp=GCP --ephemeral-ca` and connects Options.Proxies
//     xdsload sidecars (delta xDS unless told), spread over the namespaces
//     and, by rounds of the namespaces, over both clusters (CLUSTER_ID aws
//     or gcp, at the address of a pod of their service in their cluster:
//     ProxyIdentity); the connect storm is measured as xdsload measures it;
//  4. churns EndpointSlices at Options.Churn changes per second for
//     Options.Duration, the clusters taking turns and each cluster's
//     services round robin, at most Options.Writers changes in flight. A
//     change moves a service's last endpoint to a new address, as a
//     restarted pod: it creates the new pod (running, at its address),
//     rewrites the EndpointSlice, then deletes the old pod. The sidecars
//     holding the service's cluster (outbound|PORT||HOST) have the change
//     when their EDS shows the new address, or the address of a later
//     move of the same endpoint;
//  5. edits Options.VSEdits VirtualServices in aws, one every
//     Options.VSInterval, each a different service in turn, giving v1 a
//     new weight; the sidecars with a virtual host for the service have
//     the edit when their RDS shows the new weight.
//
// Contract:
//   - Latencies run from the return of the API write that makes the change
//     (the EndpointSlice update, the VirtualService update) to the sidecar's
//     ACK of the first response after which its configuration shows it
//     (xdsload's Phase and detectors), for every concerned sidecar; a
//     sidecar that shows it before the write returns is measured from just
//     before the write. They include the API server's watch delivery,
//     Isthmus's debouncing (per cluster, then before a push), translation
//     and push. Percentiles are nearest rank over (change, sidecar) pairs.
//   - A change whose write fails is still waited for, so its sidecars count
//     as missed; the report counts the failed writes and keeps the first
//     error. Changes are scheduled at the asked rate; when every writer is
//     busy they start late, and the report gives the rate achieved and the
//     largest delay.
//   - Isthmus's cost is read from /proc (xdsload: the process listening on
//     the xDS port): CPU seconds and peak RSS per phase, its VmHWM over the
//     run. Both clusters' etcd and kube-apiserver processes are measured
//     too (CPU per phase, peak RSS), and the benchmark's own process, since
//     on a small machine they all share the cores. Isthmus's metrics are
//     read per phase; with Options.ProfileDir its CPU profile over the
//     churn and heap profiles are recorded.
//   - Everything runs on loopback and everything the run starts is stopped
//     before Run returns; the clusters' scratch directories are removed.
//     Nothing is measured in a unit test: the package's tests check the
//     pieces (addresses, identities, detectors' bookkeeping) only.
package kubebench
