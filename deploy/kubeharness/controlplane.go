package kubeharness

// Identities of the control plane's components, as the apiserver's
// built-in RBAC bindings name them.
const (
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	proxyUser             = "system:kube-proxy"
)

// Kubeconfig files of the scratch directory.
const (
	controllerManagerKubeconfig = "controller-manager.kubeconfig"
	schedulerKubeconfig         = "scheduler.kubeconfig"
)

// identity is a component's token and the kubeconfig file it reads it from.
type identity struct {
	staticToken
	kubeconfig string
}

func newIdentity(user, kubeconfig string, groups ...string) identity {
	return identity{staticToken: staticToken{token: newToken(), user: user, groups: groups}, kubeconfig: kubeconfig}
}

// controllerManagerArgs runs the controllers as their own service accounts
// (the RBAC roles the apiserver bootstraps expect that), signing service
// account tokens and publishing the CA in kube-root-ca.crt for pods'
// projected tokens. Node IPAM is off: each node's CNI network holds its
// own pod range. It serves no port of its own.
func controllerManagerArgs(c *Cluster) []string {
	kubeconfig := c.path(controllerManagerKubeconfig)
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + c.path(serviceAccountKeyFile),
		"--root-ca-file=" + c.path(caFile),
		"--cluster-name=" + c.Name,
		"--controllers=*,-nodeipam",
		"--profiling=false",
	}
}

// schedulerArgs runs the scheduler without a port of its own.
func schedulerArgs(c *Cluster) []string {
	kubeconfig := c.path(schedulerKubeconfig)
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--profiling=false",
	}
}
