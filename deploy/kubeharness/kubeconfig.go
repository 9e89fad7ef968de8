package kubeharness

import (
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// connect writes the admin's kubeconfig and makes the admin's clients.
func (c *Cluster) connect(adminToken string) error {
	c.Kubeconfig = c.path(adminKubeconfigFile)
	if err := c.writeKubeconfig(c.Kubeconfig, "admin", adminToken); err != nil {
		return err
	}
	c.config = c.restConfig(adminToken)
	client, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return fmt.Errorf("admin clientset: %w", err)
	}
	c.Client = client
	c.Dynamic, err = dynamic.NewForConfig(c.config)
	if err != nil {
		return fmt.Errorf("admin dynamic client: %w", err)
	}
	return nil
}

// restConfig is a client configuration for the bearer token. Rate limits
// are high: tests create objects in bursts.
func (c *Cluster) restConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            c.Server,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
		QPS:             100,
		Burst:           200,
	}
}

// writeKubeconfig writes a kubeconfig whose one context, named after the
// cluster, reaches it as user with token.
func (c *Cluster) writeKubeconfig(path, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: user}
	cfg.CurrentContext = c.Name
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
