// Package kubeharness runs real Kubernetes API servers on loopback for
// Isthmus's tests: etcd and kube-apiserver v1.37.2, built from source by
// `make kube-bins` (tools/kube) into a cache outside the repository.
//
// Contract:
//   - Start runs one cluster: etcd and a kube-apiserver, each on a free
//     port of 127.0.0.1 (never a fixed port), with a throwaway CA, token
//     authentication, RBAC and Node authorization, and its own Service
//     CIDR. It returns once /readyz answers and the `default` namespace
//     exists. Nothing it starts listens on, or connects to, an address
//     outside 127.0.0.0/8. Admission webhooks given as a Service are
//     called at an address of its EndpointSlices (a test makes them point
//     at 127.0.0.1), never at its cluster IP: a Service without endpoints
//     fails the call without a connection.
//   - Several clusters may run in one process at once; each has its own
//     scratch directory, ports, CA and tokens.
//   - The Cluster holds an admin kubeconfig file, a rest.Config and a
//     clientset. Stop ends the apiserver only (etcd and its data stay), to
//     simulate an outage; Restart brings it back on the same port and data.
//     Close ends every process and removes the scratch directory.
//   - Every process writes to a log file in the scratch directory; start-up
//     errors carry the log's tail, and StartT prints every tail when its
//     test fails.
//   - ApplyIstioCRDs installs the CRDs of the istio.io/api module the main
//     module requires and waits until they are Established; CreateUser
//     makes a token user holding exactly the given RBAC rules.
//   - The binary is found through ISTHMUS_KUBE_BIN, else in the cache
//     (see BinaryPath). When it is missing, Start returns an error saying
//     to run `make kube-bins`: tests that need a cluster fail, never skip.
//   - Child processes get SIGKILL if the test process dies (Linux).
//
// The harness is shaped to grow: each process is a component with its own
// arguments and log, started in order (etcd, then kube-apiserver), so
// controller-manager, scheduler and kubelets (already in the binary) can
// join later.
package kubeharness
