package kubeharness

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
)

// serviceAccountIssuer is the issuer of service account tokens, as in a
// default cluster.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// etcdArgs runs a single-member etcd on loopback with its data in dir/etcd.
// Flag names are etcd's own, so a stock etcd accepts them too. fsync is
// off: a test cluster's data need not survive a power cut, and shared
// disks are slow.
func etcdArgs(name, dir string, clientPort, peerPort int) []string {
	client, peer := loopbackURL("http", clientPort), loopbackURL("http", peerPort)
	return []string{
		"--name=" + name,
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + name + "=" + peer,
		"--unsafe-no-fsync",
		"--log-level=warn",
	}
}

// apiserverArgs serves on host:port only (127.0.0.1, or a node's HostIP),
// stores in the etcd at etcdPort, and authenticates with the harness's CA
// and tokens. It never reaches out: kubelets by InternalIP only (no DNS
// lookups of node names), and admission webhooks (and aggregated APIs)
// called at an endpoint of their Service's EndpointSlices, never at its
// cluster IP, which nothing routes without a node and would leave the
// machine: a Service without endpoints is an error, no connection. The
// `kubernetes` Service's endpoint is host, except on loopback, which the
// apiserver refuses to publish.
func apiserverArgs(dir string, host netip.Addr, port, etcdPort int, serviceCIDR string) []string {
	file := func(name string) string { return filepath.Join(dir, name) }
	reconciler := "lease"
	if host.IsLoopback() {
		reconciler = "none"
	}
	return []string{
		"--etcd-servers=" + loopbackURL("http", etcdPort),
		"--bind-address=" + host.String(),
		"--advertise-address=" + host.String(),
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + file("apiserver-certs"),
		"--tls-cert-file=" + file(servingCertFile),
		"--tls-private-key-file=" + file(servingKeyFile),
		"--client-ca-file=" + file(caFile),
		"--token-auth-file=" + file(tokensFile),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + file(serviceAccountPubFile),
		"--service-account-signing-key-file=" + file(serviceAccountKeyFile),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--endpoint-reconciler-type=" + reconciler,
		"--enable-aggregator-routing=true",
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
	}
}

func loopbackURL(scheme string, port int) string {
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
}
