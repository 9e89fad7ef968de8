package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/caservice"
	"github.com/isthmus-mesh/isthmus/discovery/consul"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/server"
)

const serveUsage = "Usage: isthmus serve (--config-dir DIR | --config-kubeconfig PATH | --config-consul ADDR, one or more) [--config-consul-prefix PREFIX] [--config-cluster-id ID] [--watch-namespaces NS,...] [--write-status] [--remote-secrets=false] [--system-namespace NS] [--xds-listen ADDR] [--webhook-listen ADDR] [--inject-mode istio-agent|isthmus] [--sidecar-image IMAGE] [--inject-discovery-address HOST:PORT] [--revision REV] [--inject-network NETWORK] [--validating-webhook NAME] [--injection-webhook NAME] [--monitoring-listen ADDR] [--state-dir DIR] [--ca-dir DIR | --ephemeral-ca] [--trust-domain DOMAIN] [--cert-ttl D] [--kubeconfig [CLUSTER_ID=]PATH]... [--consul [NAME=]ADDR]... [--consul-token-file FILE] [--consul-suffix SUFFIX] [--consul-include-warning] [--network-gateway NETWORK=HOST:PORT]... [--mesh-config FILE] [--credentials-dir DIR] [--max-file-size SIZE] [--max-document-size SIZE] [--memory-limit SIZE] [--debounce D] [--debounce-max D] [--drain-duration D] [--log-level LEVEL] [--log-format text|json]"

// shutdownTimeout bounds how long the monitoring server drains on exit.
const shutdownTimeout = 5 * time.Second

// serveOptions are the flags of isthmus serve.
type serveOptions struct {
	replicaName        string
	otelEndpoint       string
	configDir          string
	configKubeconfig   string
	configClusterID    string
	watchNamespaces    listFlag
	writeStatus        bool
	remoteSecrets      bool
	secureListen       string
	secureDNSNames     listFlag
	insecureIdentities bool
	rootTrustDelay     time.Duration
	rootGrace          time.Duration
	systemNamespace    string
	xdsListen          string
	monitoringListen   string
	webhookListen      string
	webhookListenSet   bool
	debounce           time.Duration
	debounceMax        time.Duration
	drainDuration      time.Duration
	logLevel           string
	logFormat          string
	stateDir           string
	caDir              string
	ephemeralCA        bool
	trustDomain        string
	certTTL            time.Duration
	memoryLimit        string
	credentialsDir     string
	kubeconfigs        kubeconfigFlag
	consul             consulOptions
	networkGateways    networkGatewayFlag
	meshConfig         string
	maxFileSize        sizeFlag
	maxDocumentSize    sizeFlag
	inject             injectOptions
}

// runServe serves the configuration in --config-dir to Envoy proxies until
// SIGINT or SIGTERM, then drains (--drain-duration).
func runServe(args []string, stdout, stderr io.Writer) int {
	opts, fs, err := parseServeFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printServeUsage(fs, stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "isthmus serve: %v\n", err)
		printServeUsage(fs, stderr)
		return 2
	}
	logger, err := newLogger(stderr, opts.logLevel, opts.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus serve: %v\n", err)
		return 2
	}
	if err := checkConfigDir(opts.configDir); opts.configDir != "" && err != nil {
		fmt.Fprintf(stderr, "isthmus serve: %v\n", err)
		return 1
	}
	if err := applyMemoryLimit(opts.memoryLimit, logger); err != nil {
		fmt.Fprintf(stderr, "isthmus serve: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, opts, logger, nil); err != nil {
		logger.Error("isthmus stopped", "error", err)
		return 1
	}
	return 0
}

func parseServeFlags(args []string) (serveOptions, *flag.FlagSet, error) {
	var opts serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&opts.configDir, "config-dir", "", "directory of Istio configuration YAML, watched for changes")
	fs.StringVar(&opts.configKubeconfig, "config-kubeconfig", "", "kubeconfig `PATH` of the config cluster, whose Istio custom resources are served too (after --config-dir's files in precedence); \"in-cluster\" in a pod")
	fs.StringVar(&opts.configClusterID, "config-cluster-id", defaultConfigClusterID, "name of the config cluster in logs and errors")
	fs.BoolVar(&opts.remoteSecrets, "remote-secrets", true, "with --config-kubeconfig, add the clusters of Istio's remote secrets (Secrets labelled istio/multiCluster=true in --system-namespace, as istioctl create-remote-secret writes them) while they exist")
	fs.StringVar(&opts.systemNamespace, "system-namespace", kube.DefaultSystemNamespace, "the config cluster's namespace of Istio's remote secrets, and the namespace whose proven identities may read the debug xDS types (istioctl's) on --secure-listen")
	fs.BoolVar(&opts.writeStatus, "write-status", false, "write on every Istio custom resource Isthmus rejects a status condition (Accepted False, with the reason) and validation message IST0106, cleared when it is accepted again; needs RBAC to patch their status")
	fs.Var(&opts.watchNamespaces, "watch-namespaces", "`NS,...` to read the config cluster's Istio resources from (default all), for RBAC limited to those namespaces")
	fs.StringVar(&opts.xdsListen, "xds-listen", ":15010", "`ADDR` of the plaintext ADS gRPC server (state of the world and delta); empty: off")
	fs.StringVar(&opts.secureListen, "secure-listen", ":15012", "`ADDR` of ADS over TLS, where each proxy proves its identity (client certificate from the mesh CA, or Kubernetes service-account token) before it gets that identity's key (empty: off)")
	_ = opts.secureDNSNames.Set(defaultSecureDNSNames)
	fs.Var(&opts.secureDNSNames, "secure-dns-names", "`NAME,...` DNS names in the secure port's certificate")
	fs.DurationVar(&opts.rootTrustDelay, "root-trust-delay", 0, "after the CA directory changes to a new root, how long every proxy trusts both roots before certificates move to the new CA (default 1m, or --cert-ttl with --secure-listen on, for istio-agent sidecars, which learn the roots only when they renew their certificate)")
	fs.DurationVar(&opts.rootGrace, "root-grace", 0, "how long the old roots stay trusted once every certificate moved to the new CA, and at least until those the CA API signed from them expire (default 5m, or --cert-ttl with --secure-listen on, for other replicas' CA-API certificates)")
	fs.BoolVar(&opts.insecureIdentities, "insecure-identities", false, "serve proxies on the plaintext --xds-listen the private key of the service account they name, unproven: for development only")
	fs.StringVar(&opts.webhookListen, "webhook-listen", defaultWebhookListen, "`ADDR` of the admission webhooks (POST /validate and, with --config-kubeconfig, /inject, as istiod's), over TLS with a certificate from the mesh CA for --secure-dns-names; empty: off (a default port that is taken is only logged)")
	opts.inject.register(fs)
	fs.StringVar(&opts.monitoringListen, "monitoring-listen", ":15014", "`ADDR` of /metrics, /healthz, /readyz and /debug/")
	fs.DurationVar(&opts.debounce, "debounce", server.DefaultDebounce, "quiet period after a change before proxies are updated")
	fs.DurationVar(&opts.debounceMax, "debounce-max", server.DefaultDebounceMax, "longest a stream of changes can delay an update")
	fs.DurationVar(&opts.drainDuration, "drain-duration", server.DefaultDrainDuration, "on SIGTERM or SIGINT, the time over which the open xDS streams are closed, one proxy after the other, once new connections are refused and /readyz fails (0: all at once); a second signal closes them at once")
	fs.StringVar(&opts.stateDir, "state-dir", defaultStateDir(), "private directory (created 0700) where Isthmus keeps its state: the mesh CA in DIR/ca, unless --ca-dir or --ephemeral-ca")
	fs.StringVar(&opts.caDir, "ca-dir", "", "directory of the mesh CA in Istio's cacerts layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), instead of --state-dir's; a self-signed root is created there when it holds none. Refused if group or others can write it, or others can read ca-key.pem")
	fs.BoolVar(&opts.ephemeralCA, "ephemeral-ca", false, "keep the mesh root CA in memory only: a new root on every start")
	fs.StringVar(&opts.trustDomain, "trust-domain", certs.DefaultTrustDomain, "SPIFFE trust domain of workload identities")
	fs.DurationVar(&opts.certTTL, "cert-ttl", certs.DefaultWorkloadTTL, "lifetime of workload certificates; each is renewed at half its lifetime")
	fs.Var(&opts.kubeconfigs, "kubeconfig", "`[CLUSTER_ID=]PATH` of a Kubernetes cluster whose services and endpoints join the mesh, repeatable (cluster id default \"Kubernetes\", as Istio's); PATH \"in-cluster\": the pod's own cluster")
	fs.Var(&opts.consul.sources, "consul", "`[NAME=]ADDR` of a Consul agent's HTTP API (HOST:PORT or URL) whose services join the mesh as NAME.SUFFIX, repeatable; NAME, the cluster id of its endpoints, defaults to the agent's datacenter. CONSUL_HTTP_TOKEN and the other CONSUL_HTTP_* variables apply")
	fs.StringVar(&opts.consul.configAddress, "config-consul", "", "`ADDR` of a Consul agent whose KV keys under --config-consul-prefix hold Istio YAML to serve too (after --config-dir's and --config-kubeconfig's in precedence), each key one file, followed with blocking queries")
	fs.StringVar(&opts.consul.configPrefix, "config-consul-prefix", consul.DefaultKVPrefix, "`PREFIX` of the Consul KV keys --config-consul reads")
	fs.StringVar(&opts.consul.tokenFile, "consul-token-file", "", "`FILE` holding the Consul ACL token (instead of CONSUL_HTTP_TOKEN); needs agent:read, service:read and node:read")
	fs.StringVar(&opts.consul.suffix, "consul-suffix", consul.DefaultSuffix, "`SUFFIX` of the mesh host of every Consul service: NAME.SUFFIX")
	fs.BoolVar(&opts.consul.includeWarning, "consul-include-warning", false, "serve Consul instances whose checks are at worst warning, not only passing ones")
	fs.Var(&opts.networkGateways, "network-gateway", "`NETWORK=HOST:PORT` of an east-west gateway (AUTO_PASSTHROUGH, usually port 15443) through which other networks reach NETWORK's endpoints, repeatable (as Istio's meshNetworks gateways)")
	fs.StringVar(&opts.meshConfig, "mesh-config", "", "`FILE` of Istio mesh configuration (istiod's \"mesh\" ConfigMap key: extensionProviders, defaultProviders, defaultConfig.tracing...)")
	fs.StringVar(&opts.credentialsDir, "credentials-dir", "", "directory of gateway TLS credentials, DIR/NAMESPACE/NAME/{tls.crt,tls.key,ca.crt}, served to gateways whose Gateway names NAME as credentialName; watched for changes")
	opts.maxFileSize, opts.maxDocumentSize = policy.DefaultMaxFileBytes, policy.DefaultMaxDocumentBytes
	fs.Var(&opts.maxFileSize, "max-file-size", "`SIZE` of the largest configuration file read (a larger one keeps the objects it had)")
	fs.Var(&opts.maxDocumentSize, "max-document-size", "`SIZE` of the largest YAML document decoded (a larger one is an error; its file keeps the objects it had)")
	fs.StringVar(&opts.memoryLimit, "memory-limit", "", "soft memory limit of the Go runtime, e.g. 450MiB (0: none); default GOMEMLIMIT, else 90% of the container's memory limit")
	fs.StringVar(&opts.replicaName, "replica-name", defaultReplicaName(), "name of this replica in proxy-status and in istioctl's ISTIOD column (default $POD_NAME, else the host name)")
	fs.StringVar(&opts.otelEndpoint, "otel-endpoint", "", "`HOST:PORT` of an OTLP gRPC receiver (plaintext) to send control-plane traces to: a span per push and its phases (empty: no tracing)")
	fs.StringVar(&opts.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&opts.logFormat, "log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return opts, fs, err
	}
	fs.Visit(func(f *flag.Flag) { opts.webhookListenSet = opts.webhookListenSet || f.Name == "webhook-listen" })
	return opts, fs, checkServeFlags(fs, opts)
}

func checkServeFlags(fs *flag.FlagSet, opts serveOptions) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case opts.xdsListen == "" && opts.secureListen == "":
		return errors.New("--xds-listen and --secure-listen are both empty: Isthmus would serve no proxy")
	case opts.configDir == "" && opts.configKubeconfig == "" && opts.consul.configAddress == "":
		return errors.New("--config-dir, --config-kubeconfig or --config-consul is required")
	case opts.debounce <= 0:
		return errors.New("--debounce must be positive")
	case opts.debounceMax < opts.debounce:
		return errors.New("--debounce-max must not be shorter than --debounce")
	case opts.drainDuration < 0:
		return errors.New("--drain-duration must not be negative")
	case opts.certTTL < minCertTTL:
		return fmt.Errorf("--cert-ttl must be at least %v", minCertTTL)
	case opts.caDir != "" && opts.ephemeralCA:
		return errors.New("--ca-dir and --ephemeral-ca exclude each other")
	case opts.stateDir == "" && opts.caDir == "" && !opts.ephemeralCA:
		return errors.New("--state-dir is empty: give a directory, --ca-dir, or --ephemeral-ca")
	}
	return opts.inject.check(opts.configKubeconfig)
}

func printServeUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, serveUsage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// newLogger builds the process logger from --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// checkConfigDir fails when the configuration directory is missing at start;
// later disappearances are reported by the store and never fatal.
func checkConfigDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--config-dir: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("--config-dir %s: not a directory", dir)
	}
	return nil
}

// serve runs Isthmus until ctx ends or a listener fails. onListening, when
// set, learns the bound addresses.
func serve(ctx context.Context, opts serveOptions, logger *slog.Logger, onListening func(xds, monitoring net.Addr)) error {
	xdsLis, err := listenPlaintext(opts)
	if err != nil {
		return err
	}
	monLis, err := net.Listen("tcp", opts.monitoringListen)
	if err != nil {
		closeListener(xdsLis)
		return fmt.Errorf("--monitoring-listen: %w", err)
	}
	ca, err := openCA(opts, logger)
	if err != nil {
		closeListener(xdsLis)
		monLis.Close()
		return err
	}
	var srv *server.Server
	issuer := certs.NewIssuer(ca, certs.IssuerOptions{
		TTL: opts.certTTL, Logger: logger, RootGrace: rootGrace(opts), RootTrustDelay: rootTrustDelay(opts),
		OnRotate: func([]certs.Identity) { srv.Resync() },
	})
	secureLis, tlsConfig, err := openSecure(opts, issuer)
	if err != nil {
		closeListener(xdsLis)
		monLis.Close()
		return err
	}
	clusters := &clusterClients{}
	hook, err := openWebhook(opts, issuer, clusters, logger)
	if err != nil {
		closeListener(xdsLis)
		closeListener(secureLis)
		monLis.Close()
		return err
	}
	if err := startWebhookUpkeep(ctx, opts, issuer, logger); err != nil {
		closeListener(xdsLis)
		closeListener(secureLis)
		monLis.Close()
		hook.close()
		return err
	}
	warnInsecureIdentities(opts, logger)
	secrets := server.IssuerSecrets(issuer, ca.TrustDomain())
	auth := newAuthenticator(issuer, clusters)
	caAPI := caservice.New(issuer, auth, caservice.Options{MaxTTL: opts.certTTL, Logger: logger})
	tracer, stopTracing, err := startTracing(opts.otelEndpoint, opts.replicaName, logger)
	if err != nil {
		closeListener(xdsLis)
		closeListener(secureLis)
		monLis.Close()
		hook.close()
		return err
	}
	defer stopTracing()
	srv = server.New(server.Options{Debounce: opts.debounce, DebounceMax: opts.debounceMax, Logger: logger,
		Secrets: secrets, TLS: tlsConfig, Authenticator: reasonedAuthenticator{auth},
		TLSServices: []func(grpc.ServiceRegistrar){caAPI.Register}, InsecureIdentities: opts.insecureIdentities,
		Name: opts.replicaName, Version: isthmusVersion(), SystemNamespace: opts.systemNamespace, Tracer: tracer})
	srv.RegisterMetrics(caAPI)
	go issuer.Run(ctx)
	if dir := caDirOf(opts); dir != "" {
		go issuer.FollowCADir(ctx, dir, caCheckInterval)
	}
	if opts.credentialsDir != "" {
		go watchCredentials(ctx, opts.credentialsDir, secrets, srv, logger)
	}
	monitoring := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	defer func() {
		srv.Stop()
		hook.close()
		shutdownHTTP(monitoring)
		logger.Info("isthmus stopped")
	}()

	failed := make(chan error, 4)
	if xdsLis != nil {
		go func() { failed <- serveErr("xDS server", srv.Serve(xdsLis)) }()
	}
	if secureLis != nil {
		go func() { failed <- serveErr("secure xDS server", srv.ServeTLS(secureLis)) }()
		logger.Info("isthmus serving ADS over TLS", "secure", secureLis.Addr().String(), "dns_names", opts.secureDNSNames.String())
	}
	go func() { failed <- serveErr("monitoring server", monitoring.Serve(monLis)) }()
	hook.start(failed, logger)
	logger.Info("isthmus serving", "xds", addrString(xdsLis),
		"monitoring", monLis.Addr().String(), "config_dir", opts.configDir)
	if onListening != nil {
		onListening(addrOf(xdsLis), monLis.Addr())
	}
	settings := assemble.Settings{TrustDomain: ca.TrustDomain(), NetworkGateways: opts.networkGateways}
	if opts.meshConfig != "" {
		if settings.Mesh, err = policy.LoadMeshConfig(opts.meshConfig); err != nil {
			return fmt.Errorf("--mesh-config: %w", err)
		}
	}
	assembler := assemble.New(settings, logger)
	sourcesWait := time.Now().Add(clusterSyncWait)
	consuls := startConsuls(ctx, opts, assembler, logger)
	clusters.set.Store(startClusters(ctx, opts, assembler, logger))
	srv.RegisterMetrics(kube.NewCollector(sourceStatuses(clusters.set.Load, consuls)))
	waitForConsuls(ctx, consuls, sourcesWait, logger)
	startConfigSources(ctx, opts, assembler, logger)
	startConsulKV(ctx, opts, assembler, logger)
	go assembler.Run(ctx, srv, assemble.RunOptions{Quiet: assembleQuiet, MaxWait: assembleMaxWait, SyncWait: sourceSyncWait})

	select {
	case <-ctx.Done():
		logger.Info("isthmus stopping")
		drain(srv, opts.drainDuration)
		return nil
	case err := <-failed:
		return err
	}
}

// drain drains the xDS server over period (server.Server.Drain); a second
// SIGINT or SIGTERM cuts the period short.
func drain(srv *server.Server, period time.Duration) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv.Drain(ctx, period)
}

// credentialsInterval is how often the credentials directory is checked
// for changes.
const credentialsInterval = 2 * time.Second

// watchCredentials serves the gateway credentials under dir, reloading them
// on change; problems are logged, the readable credentials served.
func watchCredentials(ctx context.Context, dir string, secrets *server.CertSecrets, srv *server.Server, logger *slog.Logger) {
	certs.WatchCredentials(ctx, dir, credentialsInterval, func(c *certs.Credentials, err error) {
		if err != nil {
			logger.Error("gateway credentials not loaded; serving the previous ones", "dir", dir, "error", err)
			return
		}
		for _, problem := range c.Problems {
			logger.Error("gateway credential left out", "error", problem)
		}
		secrets.SetCredentials(c)
		srv.Resync()
		logger.Info("gateway credentials loaded", "dir", dir, "problems", len(c.Problems))
	})
}

// serveErr is err unless it reports a deliberate shutdown.
func serveErr(what string, err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s stopped", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func shutdownHTTP(s *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = s.Shutdown(ctx)
}
