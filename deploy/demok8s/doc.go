// Package demok8s is the two-cloud demo on real Kubernetes (`make
// demo-k8s`): two clusters, "aws" and "gcp", each with its own etcd,
// kube-apiserver, controller-manager, scheduler and a node (containerd,
// kubelet, kube-proxy in its own network namespace) from
// deploy/kubeharness, and Isthmus installed into aws with its Helm chart
// as a platform team installs istiod.
//
// Contract:
//   - Run builds the Isthmus image (as `make image`), the sidecar image and
//     the demo app (deploy/nodeimages) and imports them into both nodes
//     before their kubelets start; nothing is pulled.
//   - The two clusters' pod networks are joined into one network: the
//     nodes are linked (kubeharness.LinkNodes) and each routes the other's
//     pod range over the link; the aws node also reaches the gcp
//     apiserver through the host. East-west gateways are not used yet.
//   - Isthmus is installed with Helm's SDK into aws's istio-system: 2
//     replicas sharing the chart's generated CA Secret, image pull policy
//     Never, isthmus-mode injection with the sidecar image, gcp as a remote
//     cluster whose token holds only the reads Isthmus needs and token
//     reviews. Run returns once both replicas are Ready (the chart's
//     /readyz probe, through the real kubelet).
//   - Run prints each step as it starts, then the memory of every process
//     and pod of both clouds, then the total time; it always tears
//     everything down (kubeharness closes processes by PID, network
//     namespaces, cgroups) and returns the Report with what it measured.
//   - It needs what deploy/kubeharness's nodes need (root, `make tools`,
//     `make kube-bins`) and Envoy (deploy/envoybin).
package demok8s
