package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
)

// defaultSecureDNSNames are the DNS SANs of the secure port's certificate:
// Isthmus's own Service and istiod's, so that sidecars configured for
// istiod find it.
const defaultSecureDNSNames = "isthmus.istio-system.svc,istiod.istio-system.svc"

// servingTTL is the lifetime of the secure port's certificate (capped by
// the CA's own expiry).
const servingTTL = 365 * 24 * time.Hour

// listenSecure opens --secure-listen; nil when it is empty.
func listenSecure(opts serveOptions) (net.Listener, error) {
	if opts.secureListen == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", opts.secureListen)
	if err != nil {
		return nil, fmt.Errorf("--secure-listen: %w", err)
	}
	return lis, nil
}

// secureTLSConfig is the TLS side of the secure port: a certificate from
// the mesh CA for dnsNames, and client certificates requested and, when
// presented, verified against the mesh roots; both follow root rotations.
func secureTLSConfig(issuer *certs.Issuer, dnsNames []string) (*tls.Config, error) {
	cfg, err := issuer.ServingTLS(&tls.Config{
		ClientAuth: tls.VerifyClientCertIfGiven,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
	}, dnsNames, servingTTL)
	if err != nil {
		return nil, fmt.Errorf("--secure-listen: %w", err)
	}
	return cfg, nil
}

// warnInsecureIdentities says, at start, what --insecure-identities gives
// away.
func warnInsecureIdentities(opts serveOptions, logger *slog.Logger) {
	if opts.insecureIdentities {
		logger.Warn("--insecure-identities: proxies on the plaintext port get the private key of whatever service account they name; for development only")
	}
}

// openSecure opens the secure port and its TLS configuration; nil, nil
// when --secure-listen is empty.
func openSecure(opts serveOptions, issuer *certs.Issuer) (net.Listener, *tls.Config, error) {
	lis, err := listenSecure(opts)
	if lis == nil || err != nil {
		return nil, nil, err
	}
	cfg, err := secureTLSConfig(issuer, opts.secureDNSNames)
	if err != nil {
		lis.Close()
		return nil, nil, err
	}
	return lis, cfg, nil
}

// newAuthenticator proves who a proxy on the secure port is: a client
// certificate from the mesh CA, else a Kubernetes service-account token
// (audience istio-ca) reviewed by the cluster the proxy names among the
// --kubeconfig clusters.
func newAuthenticator(opts serveOptions, issuer *certs.Issuer, logger *slog.Logger) authn.Authenticator {
	clients := map[string]kubernetes.Interface{}
	for _, k := range opts.kubeconfigs {
		cfg, err := kube.LoadKubeconfig(k.path, "")
		if err == nil {
			clients[k.clusterID], err = kubernetes.NewForConfig(cfg)
		}
		if err != nil {
			logger.Error("tokens of cluster not reviewable: its kubeconfig cannot be used", "cluster", k.clusterID, "error", err)
			delete(clients, k.clusterID)
		}
	}
	lookup := func(clusterID string) (kubernetes.Interface, bool) {
		if clusterID == "" && len(clients) == 1 { // a proxy that names no cluster, with one cluster known
			for _, c := range clients {
				return c, true
			}
		}
		c, ok := clients[clusterID]
		return c, ok
	}
	return authn.Chain(
		authn.NewCertAuthenticator(issuer.TrustDomain(), issuer.RootPool),
		authn.NewTokenAuthenticator(lookup, authn.TokenOptions{TrustDomain: issuer.TrustDomain(), CacheMaxAge: tokenReviewMaxAge}),
	)
}

// tokenReviewMaxAge bounds how long a reviewed token is trusted without a
// new review, so that a deleted service account loses its identity soon.
const tokenReviewMaxAge = 5 * time.Minute

// reasonedAuthenticator gives the server each refusal's reason.
type reasonedAuthenticator struct{ authn.Authenticator }

func (a reasonedAuthenticator) Authenticate(ctx context.Context, clusterID string) (certs.Identity, error) {
	id, err := a.Authenticator.Authenticate(ctx, clusterID)
	if err != nil {
		return id, reasonError{reason: authn.ReasonOf(err), err: err}
	}
	return id, nil
}

// reasonError is an authentication error with its reason for metrics.
type reasonError struct {
	reason string
	err    error
}

func (e reasonError) Error() string  { return e.err.Error() }
func (e reasonError) Unwrap() error  { return e.err }
func (e reasonError) Reason() string { return e.reason }

// listenPlaintext opens --xds-listen; nil when it is empty (off).
func listenPlaintext(opts serveOptions) (net.Listener, error) {
	if opts.xdsListen == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", opts.xdsListen)
	if err != nil {
		return nil, fmt.Errorf("--xds-listen: %w", err)
	}
	return lis, nil
}

func closeListener(l net.Listener) {
	if l != nil {
		l.Close()
	}
}

// addrOf is l's address, nil for no listener.
func addrOf(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

func addrString(l net.Listener) string {
	if l == nil {
		return "off"
	}
	return l.Addr().String()
}

// rootGrace is how long old roots stay trusted after a root rotation moved
// every certificate Isthmus serves over ADS: with the secure port on,
// certificates the CA API signed (istio-agent, isthmus agent) are renewed
// by their holders within their lifetime, so the old roots stay that long.
func rootGrace(opts serveOptions) time.Duration {
	if opts.rootGrace > 0 {
		return opts.rootGrace
	}
	if opts.secureListen == "" {
		return certs.DefaultRootGrace
	}
	return max(certs.DefaultRootGrace, opts.certTTL)
}
