package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/webhook"
)

// defaultWebhookListen is istiod's validating webhook port.
const defaultWebhookListen = ":15017"

// webhookServer is the admission webhooks (packages webhook and inject) on
// --webhook-listen, over TLS with a certificate from the mesh CA for
// --secure-dns-names (istiod.istio-system.svc...), following root rotations.
type webhookServer struct {
	lis net.Listener
	srv *http.Server
}

// openWebhook opens --webhook-listen; nil when it is empty. A port left at
// its default that is taken is only logged (another Isthmus, or istiod,
// may hold it); a port given explicitly that cannot be opened is an error.
func openWebhook(opts serveOptions, issuer *certs.Issuer, clusters *clusterClients, logger *slog.Logger) (*webhookServer, error) {
	if opts.webhookListen == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", opts.webhookListen)
	if err != nil {
		if !opts.webhookListenSet {
			logger.Warn("validating webhook off: its default port is taken; set --webhook-listen (empty: off)", "addr", opts.webhookListen, "error", err)
			return nil, nil
		}
		return nil, fmt.Errorf("--webhook-listen: %w", err)
	}
	cfg, err := issuer.ServingTLS(&tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
		opts.secureDNSNames, servingTTL)
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("--webhook-listen: %w", err)
	}
	handler, err := webhookHandler(opts, issuer.TrustDomain(), clusters, logger)
	if err != nil {
		lis.Close()
		return nil, err
	}
	return &webhookServer{lis: tls.NewListener(lis, cfg), srv: webhook.NewServer(handler, cfg)}, nil
}

// start serves the webhook until close, sending why it stopped to failed.
func (w *webhookServer) start(failed chan<- error, logger *slog.Logger) {
	if w == nil {
		return
	}
	go func() { failed <- serveErr("webhook server", w.srv.Serve(w.lis)) }()
	logger.Info("isthmus serving the admission webhooks", "addr", w.lis.Addr().String())
}

// close stops the webhook server; nil is a no-op.
func (w *webhookServer) close() {
	if w == nil {
		return
	}
	shutdownHTTP(w.srv)
	_ = w.lis.Close() // in case it was never served
}
