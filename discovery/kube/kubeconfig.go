package kube

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// LoadKubeconfig reads the client configuration of a kubeconfig file
// (KUBECONFIG or ~/.kube/config when path is empty), in context kubeContext
// or the file's current one.
func LoadKubeconfig(path, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %q: %w", path, err)
	}
	return cfg, nil
}

// RemoteConfig reads a kubeconfig given as data (a remote secret's, as
// `istioctl create-remote-secret` writes it), in its current context. It
// refuses what would make Isthmus read a local file or run a program:
// exec plugins, auth providers, and certificate, key, CA and token files,
// in any user or cluster of the kubeconfig, used or not.
func RemoteConfig(kubeconfig []byte) (*rest.Config, error) {
	if len(bytes.TrimSpace(kubeconfig)) == 0 {
		return nil, errors.New("empty kubeconfig")
	}
	api, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	if err := checkSelfContained(api); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*api, api.CurrentContext, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.BearerTokenFile != "" ||
		cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		// Defence in depth: the check above already refuses these.
		return nil, errors.New("kubeconfig: reads local files or runs a program")
	}
	return cfg, nil
}

// checkSelfContained refuses exec plugins, auth providers and file paths.
func checkSelfContained(api *clientcmdapi.Config) error {
	for _, name := range slices.Sorted(maps.Keys(api.AuthInfos)) {
		u := api.AuthInfos[name]
		switch {
		case u.Exec != nil:
			return fmt.Errorf("user %q: exec plugin %q not allowed in a remote kubeconfig", name, u.Exec.Command)
		case u.AuthProvider != nil:
			return fmt.Errorf("user %q: auth provider %q not allowed in a remote kubeconfig", name, u.AuthProvider.Name)
		case u.TokenFile != "", u.ClientCertificate != "", u.ClientKey != "":
			return fmt.Errorf("user %q: file paths (token, client certificate or key) not allowed in a remote kubeconfig; give the data inline", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(api.Clusters)) {
		if api.Clusters[name].CertificateAuthority != "" {
			return fmt.Errorf("cluster %q: certificate-authority file not allowed in a remote kubeconfig; use certificate-authority-data", name)
		}
	}
	return nil
}

// Client rate of Isthmus's API clients, as istiod's (--kubernetesApiQPS,
// --kubernetesApiBurst): client-go's default of 5 requests per second
// would queue the TokenReviews of a reconnecting fleet for minutes.
const (
	DefaultQPS   = 80
	DefaultBurst = 160
)

// WithClientRate is a copy of cfg at DefaultQPS and DefaultBurst unless cfg
// sets a rate of its own: every client Isthmus makes (clientsets, Istio's
// typed client) is made from it.
func WithClientRate(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	return cfg
}

// NewClient is a clientset for cfg at the client rate of WithClientRate,
// speaking Kubernetes's protobuf encoding (JSON accepted back) as istiod's
// clients do: the built-in objects it reads and the TokenReviews of a
// reconnecting fleet cost less to encode and decode than in JSON. Istio's
// custom resources have no protobuf encoding; their client is made apart.
func NewClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg = WithClientRate(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(cfg)
}
