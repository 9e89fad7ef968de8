package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/inject"
	"github.com/isthmus-mesh/isthmus/inject/rootcert"
	"github.com/isthmus-mesh/isthmus/webhook"
	"github.com/isthmus-mesh/isthmus/webhook/cabundle"
)

// injectOptions are serve's flags of the injection webhook and of the
// webhook configurations whose caBundle Isthmus keeps.
type injectOptions struct {
	mode             string
	sidecarImage     string
	discoveryAddress string
	revision         string
	network          string
	validatingName   string
	injectionName    string
	publishRootCert  bool
}

func (o *injectOptions) register(fs flagSet) {
	fs.BoolVar(&o.publishRootCert, "publish-root-cert", true, "with --config-kubeconfig, keep the mesh roots in ConfigMap "+rootcert.ConfigMapName+" (key "+rootcert.DataKey+") of every namespace, as istiod does: injected sidecars mount it (needs RBAC to list namespaces and create and update ConfigMaps)")
	fs.StringVar(&o.mode, "inject-mode", string(inject.ModeIstioAgent), "sidecar the injection webhook (POST /inject) adds: istio-agent (istiod's istio-proxy and istio-init) or isthmus (Envoy bootstrapped by isthmus bootstrap, isthmus agent, isthmus capture)")
	fs.StringVar(&o.sidecarImage, "sidecar-image", "", "`IMAGE` of the injected sidecar (default "+inject.DefaultIstioImage+" with --inject-mode istio-agent, "+inject.DefaultIsthmusImage+", holding envoy and isthmus, with isthmus)")
	fs.StringVar(&o.discoveryAddress, "inject-discovery-address", inject.DefaultDiscoveryAddress, "`HOST:PORT` of Isthmus's secure port (ADS and CA) that injected sidecars connect to; HOST must be one of --secure-dns-names")
	fs.StringVar(&o.revision, "revision", "", "control plane revision: inject pods of namespaces (or pods) labelled istio.io/rev=REVISION; empty: the default revision, which also answers istio-injection=enabled")
	fs.StringVar(&o.network, "inject-network", "", "`NETWORK` of injected pods (ISTIO_META_NETWORK); empty: none")
	fs.StringVar(&o.validatingName, "validating-webhook", "", "`NAME` of the config cluster's ValidatingWebhookConfiguration whose caBundle Isthmus sets to the mesh roots (at start and when they change)")
	fs.StringVar(&o.injectionName, "injection-webhook", "", "`NAME` of the config cluster's MutatingWebhookConfiguration whose caBundle Isthmus sets to the mesh roots")
}

// flagSet is the part of flag.FlagSet register uses.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}

func (o injectOptions) check(configKubeconfig string) error {
	if o.mode != string(inject.ModeIstioAgent) && o.mode != string(inject.ModeIsthmus) {
		return fmt.Errorf("--inject-mode %q: want %s or %s", o.mode, inject.ModeIstioAgent, inject.ModeIsthmus)
	}
	if (o.validatingName != "" || o.injectionName != "") && configKubeconfig == "" {
		return errors.New("--validating-webhook and --injection-webhook need --config-kubeconfig")
	}
	return nil
}

// injectConfig is what every injected sidecar shares.
func injectConfig(opts serveOptions, trustDomain string) inject.Config {
	return inject.Config{
		Mode: inject.Mode(opts.inject.mode), Image: opts.inject.sidecarImage,
		DiscoveryAddress: opts.inject.discoveryAddress, Revision: opts.inject.revision,
		ClusterID: opts.configClusterID, Network: opts.inject.network, TrustDomain: trustDomain,
	}
}

// webhookHandler serves /validate, and /inject (with remote clusters'
// /inject/cluster/ID[/net/NET]) when there is a config cluster to read
// namespaces from.
//
// A remote cluster's pods are decided by that cluster's namespaces, read
// through clusters (nil: the config cluster's).
func webhookHandler(opts serveOptions, trustDomain string, clusters *clusterClients, logger *slog.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle(webhook.Path, webhook.Handler(webhook.Options{Logger: logger}))
	if opts.configKubeconfig == "" {
		logger.Info("injection webhook off: it reads namespaces from the config cluster (--config-kubeconfig)")
		return mux, nil
	}
	client, err := configClient(opts)
	if err != nil {
		return nil, err
	}
	injector, err := inject.Handler(inject.Options{Config: injectConfig(opts, trustDomain),
		Namespaces: inject.ClientNamespaces{Client: client}, ClusterNamespaces: clusters.namespaces, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("injection webhook: %w", err)
	}
	mux.Handle(inject.Path, injector)
	mux.Handle(inject.Path+"/", injector) // remote clusters' /inject/cluster/ID[/net/NET]
	return mux, nil
}

// configClient is a clientset of the config cluster.
func configClient(opts serveOptions) (kubernetes.Interface, error) {
	cfg, err := restConfig(opts.configKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--config-kubeconfig: %w", err)
	}
	client, err := kube.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("--config-kubeconfig %s: %w", opts.configKubeconfig, err)
	}
	return client, nil
}

// startRootPublishing keeps the mesh roots in every namespace of the config
// cluster (--publish-root-cert), in the background.
func startRootPublishing(ctx context.Context, opts serveOptions, issuer *certs.Issuer, logger *slog.Logger) error {
	if !opts.inject.publishRootCert || opts.configKubeconfig == "" {
		return nil
	}
	client, err := configClient(opts)
	if err != nil {
		return err
	}
	go rootcert.Run(ctx, rootcert.Options{Client: client, Roots: issuer.RootsPEM, Logger: logger})
	return nil
}

// startCABundle keeps the caBundle of --validating-webhook and
// --injection-webhook equal to the issuer's roots, in the background.
func startCABundle(ctx context.Context, opts serveOptions, issuer *certs.Issuer, logger *slog.Logger) error {
	var targets []cabundle.Target
	if opts.inject.validatingName != "" {
		targets = append(targets, cabundle.Target{Kind: cabundle.Validating, Name: opts.inject.validatingName})
	}
	if opts.inject.injectionName != "" {
		targets = append(targets, cabundle.Target{Kind: cabundle.Mutating, Name: opts.inject.injectionName})
	}
	if len(targets) == 0 {
		return nil
	}
	client, err := configClient(opts)
	if err != nil {
		return err
	}
	go cabundle.Run(ctx, cabundle.Options{Client: client, Targets: targets, Roots: issuer.RootsPEM, Logger: logger})
	return nil
}

// startWebhookUpkeep starts what keeps the webhooks usable: the caBundles
// and the roots ConfigMaps.
func startWebhookUpkeep(ctx context.Context, opts serveOptions, issuer *certs.Issuer, logger *slog.Logger) error {
	if err := startCABundle(ctx, opts, issuer, logger); err != nil {
		return err
	}
	return startRootPublishing(ctx, opts, issuer, logger)
}
