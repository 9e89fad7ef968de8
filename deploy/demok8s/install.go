package demok8s

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"helm.sh/helm/v4/pkg/action"
	helmkube "helm.sh/helm/v4/pkg/kube"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/isthmus-mesh/isthmus/deploy/helm"
	"github.com/isthmus-mesh/isthmus/deploy/nodeimages"
)

// The release: its name and namespace, which give the objects' names
// (isthmus, isthmus-ca…) and the discovery address the sidecars dial.
const (
	Release         = "isthmus"
	SystemNamespace = "istio-system"
	Replicas        = 2
	// DiscoveryHost is the name in Isthmus's certificate that sidecars dial
	// (the nodes run no cluster DNS: pods map it with hostAliases).
	DiscoveryHost = Release + "." + SystemNamespace + ".svc"
)

// installTimeout bounds the Helm install and the wait for Ready replicas.
const installTimeout = 3 * time.Minute

// remoteReader is what Isthmus reads in a remote cluster, as the chart's
// ClusterRole grants in its own.
var remoteReader = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"services", "pods", "namespaces", "nodes"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
}

// chartValues are the demo's values: two replicas, the images the nodes
// hold, isthmus-mode injection and gcp as a remote cluster.
func chartValues(remoteServer, remoteToken string, remoteCA []byte, network string) map[string]any {
	v := map[string]any{
		"replicaCount":    Replicas,
		"image":           map[string]any{"repository": IsthmusImageRepo, "tag": IsthmusImageTag, "pullPolicy": "Never"},
		"clusterId":       AWS,
		"crds":            map[string]any{"install": true},
		"podAntiAffinity": "none", // one node per cloud
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
			"limits":   map[string]any{"memory": "512Mi"},
		},
		"injection": map[string]any{"mode": "isthmus", "sidecarImage": nodeimages.SidecarRef},
		"remoteClusters": []any{map[string]any{
			"clusterId": GCP, "server": remoteServer, "token": remoteToken,
			"certificateAuthorityData": base64.StdEncoding.EncodeToString(remoteCA),
		}},
	}
	if network != "" { // the remote network reaches Isthmus at the aws node's address
		v["service"] = map[string]any{"type": "NodePort"}
		v["extraArgs"] = []any{"--inject-network=" + network}
	}
	return v
}

// installIsthmus stages the chart, installs it into aws with Helm's SDK
// and waits until every replica is Ready. gcp is given as a remote cluster
// with a token holding only remoteReader.
func installIsthmus(ctx context.Context, dir string, aws, gcp *cloud, network string) error {
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	reader, err := gcp.CreateUser(ctx, "isthmus-remote", remoteReader...)
	if err != nil {
		return err
	}
	chartDir := filepath.Join(dir, "chart", "isthmus")
	if err := helm.Stage(chartSource(), chartDir); err != nil {
		return err
	}
	ch, err := helm.Load(chartDir)
	if err != nil {
		return err
	}
	cfg, err := helmConfig(aws, dir)
	if err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = Release, SystemNamespace, true
	install.ServerSideApply, install.WaitStrategy, install.Timeout = true, helmkube.HookOnlyStrategy, installTimeout
	values := chartValues(gcp.Server, reader.Token, gcp.Config().TLSClientConfig.CAData, network)
	if _, err := install.RunWithContext(ctx, ch, values); err != nil {
		return fmt.Errorf("helm install %s: %w", Release, err)
	}
	return waitIsthmusReady(ctx, aws)
}

// chartSource is deploy/helm/isthmus, beside this package.
func chartSource() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "helm", "isthmus")
}

// helmConfig is Helm's action configuration for c, releases stored as
// Secrets in SystemNamespace.
func helmConfig(c *cloud, dir string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	kubeconfig, namespace, cacheDir := c.Kubeconfig, SystemNamespace, filepath.Join(dir, "helm-cache")
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, err
	}
	flags.KubeConfig, flags.Namespace, flags.CacheDir = &kubeconfig, &namespace, &cacheDir
	cfg := action.NewConfiguration()
	if err := cfg.Init(flags, SystemNamespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm configuration for %s: %w", c.Name, err)
	}
	return cfg, nil
}

// waitIsthmusReady waits until the Deployment has Replicas Ready pods.
func waitIsthmusReady(ctx context.Context, aws *cloud) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := aws.Client.AppsV1().Deployments(SystemNamespace).Get(ctx, Release, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%d of %d replicas ready", d.Status.ReadyReplicas, Replicas)
		return d.Status.ReadyReplicas == Replicas, nil
	})
	if err != nil {
		return fmt.Errorf("Isthmus in %s: %w (%s)", aws.Name, err, last)
	}
	return nil
}
