package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/isthmus-mesh/isthmus/certs"
	"github.com/isthmus-mesh/isthmus/certs/authn"
	"github.com/isthmus-mesh/isthmus/discovery/kube"
	"github.com/isthmus-mesh/isthmus/inject"
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
	return listenOptional("--secure-listen", opts.secureListen)
}

// listenOptional listens on addr for flag; nil when addr is empty (off).
func listenOptional(flag, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
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
		// Full-size records from the first byte: small first records
		// help a browser paint early, while an xDS response is of use
		// only whole, and each record is a write of its own.
		DynamicRecordSizingDisabled: true,
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
// (audience istio-ca) reviewed by the cluster the proxy names among those
// clusters knows (--kubeconfig clusters and remote secrets' alike).
func newAuthenticator(issuer *certs.Issuer, clusters *clusterClients) authn.Authenticator {
	return authn.Chain(
		authn.NewCertAuthenticator(issuer.TrustDomain(), issuer.RootPool).TrustingHandshake(), // ServingTLS verifies against RootPool
		authn.NewTokenAuthenticator(clusters.lookup, authn.TokenOptions{TrustDomain: issuer.TrustDomain(), CacheMaxAge: tokenReviewMaxAge}),
	)
}

// clusterClients finds the API server of a cluster for token reviews, in
// the cluster set once it is made.
type clusterClients struct {
	set atomic.Pointer[kube.ClusterSet]
}

// lookup is the client of cluster id; a proxy that names no cluster is
// reviewed by the only cluster when there is one.
func (c *clusterClients) lookup(id string) (kubernetes.Interface, bool) {
	set := c.set.Load()
	if set == nil {
		return nil, false
	}
	if statuses := set.Statuses(); id == "" && len(statuses) == 1 {
		id = statuses[0].Cluster
	}
	if reg := set.Cluster(id); reg != nil {
		return reg.Client(), true
	}
	return nil, false
}

// namespaces are the namespaces of cluster id, for injecting its pods; not
// known before the cluster set is made, nor for a cluster it lacks.
func (c *clusterClients) namespaces(id string) (inject.Namespaces, bool) {
	if c == nil || id == "" {
		return nil, false
	}
	client, ok := c.lookup(id)
	if !ok {
		return nil, false
	}
	return inject.ClientNamespaces{Client: client}, true
}

// minCertTTL is the shortest --cert-ttl: certificates renewed every few
// seconds, for trying rotation out.
const minCertTTL = 10 * time.Second

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
	return listenOptional("--xds-listen", opts.xdsListen)
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

// rootTrustDelay is how long a new root is trusted beside the old ones
// before certificates move to it. Proxies served over ADS get the new
// roots at once, but istio-agent gives its proxy the roots of the CA
// API's last answer, which it asks for only to renew its certificate (at
// half its lifetime): with the secure port on, the new root is trusted for
// a certificate lifetime first, so that every istio-agent has renewed and
// trusts it before a peer shows a certificate of the new CA.
func rootTrustDelay(opts serveOptions) time.Duration {
	return rotationPhase(opts, opts.rootTrustDelay, certs.DefaultRootTrustDelay)
}

// rootGrace is how long old roots stay trusted after a root rotation moved
// every certificate Isthmus serves over ADS. The Issuer also waits for the
// certificates its own CA API signed from them to expire, but not for those
// another replica signed: with the secure port on, the old roots stay a
// certificate lifetime, within which holders of CA-API certificates
// (istio-agent, isthmus agent) renew them from the new CA at any replica.
func rootGrace(opts serveOptions) time.Duration {
	return rotationPhase(opts, opts.rootGrace, certs.DefaultRootGrace)
}

// rotationPhase is a root rotation phase's length: set when given, else
// def, at least a certificate lifetime when the secure port is on.
func rotationPhase(opts serveOptions, set, def time.Duration) time.Duration {
	switch {
	case set > 0:
		return set
	case opts.secureListen == "":
		return def
	}
	return max(def, opts.certTTL)
}
