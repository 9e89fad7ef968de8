package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/deploy/agent"
	"github.com/isthmus-mesh/isthmus/deploy/bootstrap"
)

const agentUsage = "Usage: isthmus agent [--ca-address HOST:PORT] [--ca-server-name NAME] [--root-cert FILE] [--token-file FILE] [--cluster-id ID] [--trust-domain DOMAIN] [--namespace NS] [--service-account SA] [--output-dir DIR] [--ttl D] [--once] [--log-level LEVEL] [--log-format text|json]"

type agentFlags struct {
	opts      agent.Options
	once      bool
	logLevel  string
	logFormat string
}

// runAgent gets the workload's certificate from Isthmus's CA API into
// --output-dir and, without --once, keeps it fresh until SIGINT or SIGTERM.
func runAgent(args []string, stdout, stderr io.Writer) int {
	f, fs, err := parseAgentFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printAgentUsage(fs, stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "isthmus agent: %v\n", err)
		printAgentUsage(fs, stderr)
		return 2
	}
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus agent: %v\n", err)
		return 2
	}
	f.opts.Logger = logger
	a, err := agent.New(f.opts)
	if err != nil {
		fmt.Fprintf(stderr, "isthmus agent: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.once {
		cred, err := a.Fetch(ctx)
		if err != nil {
			logger.Error("workload certificate request failed", "ca", f.opts.CAAddress, "error", err)
			return 1
		}
		logger.Info("workload certificate written", "identity", cred.ID, "dir", f.opts.OutputDir, "not_after", cred.NotAfter.UTC())
		return 0
	}
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("isthmus agent stopped", "error", err)
		return 1
	}
	return 0
}

func parseAgentFlags(args []string) (agentFlags, *flag.FlagSet, error) {
	var f agentFlags
	o := &f.opts
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.CAAddress, "ca-address", "isthmus.istio-system.svc:15012", "`HOST:PORT` of Isthmus's secure port, which answers the CA API")
	fs.StringVar(&o.ServerName, "ca-server-name", bootstrap.DefaultXDSServerName, "DNS `NAME` expected in the secure port's certificate, and sent as SNI")
	fs.StringVar(&o.RootCertFile, "root-cert", agent.DefaultRootCertFile, "PEM `FILE` of the mesh roots (the istio-ca-root-cert ConfigMap)")
	fs.StringVar(&o.TokenFile, "token-file", agent.DefaultTokenFile, "`FILE` of the pod's projected service-account token (audience istio-ca), re-read for every request")
	fs.StringVar(&o.ClusterID, "cluster-id", agent.DefaultClusterID, "`ID` of the cluster whose API server reviews the token, sent as ClusterID")
	fs.StringVar(&o.Identity.TrustDomain, "trust-domain", certs.DefaultTrustDomain, "trust `DOMAIN` of the SPIFFE ID asked for")
	fs.StringVar(&o.Identity.Namespace, "namespace", "", "`NS` of the SPIFFE ID asked for (default: from the token)")
	fs.StringVar(&o.Identity.ServiceAccount, "service-account", "", "`SA` of the SPIFFE ID asked for (default: from the token)")
	fs.StringVar(&o.OutputDir, "output-dir", "/etc/certs", "`DIR` receiving "+agent.CertChainFile+", "+agent.KeyFile+" and "+agent.RootCertFile)
	fs.DurationVar(&o.TTL, "ttl", agent.DefaultTTL, "certificate lifetime asked for (Isthmus may shorten it); renewed at half of it")
	fs.BoolVar(&f.once, "once", false, "fetch one certificate and exit, 1 on failure (init container)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return f, fs, err
	}
	if fs.NArg() > 0 {
		return f, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.TTL <= 0 {
		return f, fs, fmt.Errorf("--ttl %v: want a positive duration", o.TTL)
	}
	return f, fs, nil
}

func printAgentUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, agentUsage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
