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
//   - Without Options.TwoNetworks the clouds' pod networks are joined into
//     one: the nodes are linked (kubeharness.LinkNodes) and each routes the
//     other's pod range over the link. With it (the command's default,
//     and the test `make test` runs) they are two
//     networks, aws-network and gcp-network (namespace label
//     topology.istio.io/network; the injected NETWORK): the linked nodes
//     reach each other's address only, never pods or ClusterIPs, and each
//     cloud runs an east-west gateway in istio-system (Isthmus's proxy
//     from the sidecar image as a router node, selected by the mesh's
//     AUTO_PASSTHROUGH Gateway on 15443) behind a Service labelled with
//     its network whose external IP is its node's address: Isthmus gives
//     proxies of one network the other's gateway as the address of its
//     endpoints. The
//     aws node also reaches the gcp apiserver through the host, in both
//     modes (a cloud's public API endpoint).
//   - Isthmus is installed with Helm's SDK into aws's istio-system: 2
//     replicas sharing the chart's generated CA Secret, image pull policy
//     Never, isthmus-mode injection with the sidecar image (with two
//     networks, --inject-network aws-network and a NodePort Service), gcp
//     as a remote
//     cluster whose token holds only the reads Isthmus needs and token
//     reviews; both replicas become Ready (the chart's /readyz probe,
//     through the real kubelet) before anything else is deployed.
//   - The mesh namespaces (frontend, client, backend) are labelled
//     istio-injection=enabled in both clusters; gcp reaches Isthmus as a
//     remote cluster reaches istiod: a selectorless Service isthmus in its
//     istio-system whose EndpointSlice names the aws Isthmus pods (kept up
//     to date by the demo; with two networks, the aws node's address and
//     the chart's Service's node ports), and a copy of aws's injection
//     webhook calling /inject/cluster/gcp (/net/gcp-network). The demo app runs as frontend (service account
//     frontend-service), client, and service-b in both clusters, each
//     injected by its cluster's webhook; without cluster DNS, pods map
//     Isthmus's and service-b's names with hostAliases. The frontend and
//     client are drivers: their app port is left out of the capture, so
//     the host asks them to call service-b through their sidecars.
//   - mesh.yaml (the seeds' configuration) is applied to aws. Run then
//     observes: 1,000 calls split across the clouds' subsets; the
//     AuthorizationPolicy's 200 and 403s; the X-Forwarded-Client-Cert
//     service-b saw; with the split removed, aws's service-b deleted
//     under continuous traffic; the Isthmus replica holding the
//     frontend's proxy deleted under continuous traffic, where the proxy
//     went, which versions it holds there, and whether both replicas'
//     /debug/proxies together list every proxy (sidecars and gateways)
//     exactly once.
//   - Run prints each step as it starts and what it observed, then the
//     memory of every process and pod of both clouds and each step's
//     time, then the total; it always tears everything down (kubeharness
//     closes processes by PID, network namespaces, cgroups) and returns
//     the Report with what it measured. A failed observation is in the
//     Report; Run fails only when a step cannot be carried out.
//   - It needs what deploy/kubeharness's nodes need (root, `make tools`,
//     `make kube-bins`) and Envoy (deploy/envoybin).
package demok8s
