// Package kubeharness runs real Kubernetes clusters for Isthmus's tests:
// etcd, kube-apiserver and, when asked, kube-controller-manager,
// kube-scheduler and nodes (containerd, kubelet, kube-proxy) of Kubernetes
// v1.37.2, built from source by `make kube-bins` (tools/kube) into a cache
// outside the repository.
//
// Contract:
//   - Start runs one cluster: etcd and a kube-apiserver, each on a free
//     port (never a fixed port), with a throwaway CA, token
//     authentication, RBAC and Node authorization, and its own Service
//     CIDR. It returns once /readyz answers, the `default` namespace exists
//     and every node is Ready. Without nodes, nothing it starts listens on,
//     or connects to, an address outside 127.0.0.0/8. Admission webhooks
//     given as a Service are called at an address of its EndpointSlices
//     (a test without nodes makes them point at 127.0.0.1), never at its
//     cluster IP: a Service without endpoints fails the call without a
//     connection.
//   - Options.ControlPlane adds the controller-manager (each controller as
//     its own service account; kube-root-ca.crt published; no node IPAM)
//     and the scheduler, neither serving a port. Options.Nodes imply them.
//   - A Node runs containerd, a kubelet (cgroupfs under its own cgroup
//     root, cgroup v1 hosts included) and kube-proxy (iptables mode) in
//     its own network namespace, linked to the host by a veth pair:
//     slot k has the link 10.250.k.0/30 (host .1, node .2) and the pods
//     10.244.k.0/24 on a CNI bridge (Debian's bridge, host-local and
//     portmap plugins). The host routes each pod range to its node; a node
//     routes only its link and its pods, so the host reaches every pod, a
//     pod reaches its cluster's apiserver and ClusterIPs, and pods of
//     different nodes (hence of different clusters) cannot reach each
//     other, nor another node: two clusters are two networks, and the
//     traffic never leaves the machine. Slots are allocated under a lock
//     file, so concurrent test processes take distinct ones.
//   - With nodes, the apiserver serves on the first node's host address
//     (10.250.k.1) rather than loopback, so pods reach it through the
//     `kubernetes` Service, whose endpoint it publishes; Cluster.Server
//     names that address.
//   - Every node imports the harness's pause image (deploy/nodeimages)
//     and Options.Images into its containerd (namespace k8s.io) before its
//     kubelet starts; Node.LoadImage and Cluster.LoadImage import more
//     later. Pods use them with imagePullPolicy Never (nothing is pulled).
//   - Several clusters may run in one process at once; each has its own
//     scratch directory, ports, CA and tokens.
//   - The Cluster holds an admin kubeconfig file, a rest.Config and a
//     clientset. Stop ends the apiserver only (etcd and its data stay), to
//     simulate an outage; Restart brings it back on the same port and data.
//     Close stops each node and removes what it made on the host (its
//     pods' processes and containerd's shims, mounts under its directory,
//     its network namespace with the veth pair, routes and kube-proxy's
//     iptables chains, its cgroups), ends every process by PID and removes
//     the scratch directory.
//   - Node resources are keyed khPID-SLOT by the test process that made
//     them. Before making its first node, a process removes every node a
//     dead process left behind (a test killed before Close).
//   - Every process writes to a log file in the scratch directory; start-up
//     errors carry the log's tail, and StartT prints every tail when its
//     test fails.
//   - ApplyIstioCRDs installs the CRDs of the istio.io/api module the main
//     module requires and waits until they are Established; CreateUser
//     makes a token user holding exactly the given RBAC rules.
//   - The binary is found through ISTHMUS_KUBE_BIN, else in the cache
//     under a key of tools/kube's sources (see BinaryPath), so a stale
//     binary is never used. When it is missing, Start returns an error
//     saying to run `make kube-bins`: tests that need a cluster fail, never
//     skip.
//   - Nodes need root (network namespaces, cgroups, mounts), a cgroup v1
//     hierarchy, and the host packages `make tools` installs: containerd,
//     ctr, runc, the CNI plugins in /usr/lib/cni, iproute2, nsenter.
//   - Child processes get SIGKILL if the test process dies (Linux);
//     containerd's shims and the pods they run do not, and are removed by
//     the next process's leftover cleanup.
package kubeharness
