package xdsload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/isthmus-mesh/isthmus/certs"
)

// DefaultTLSServerName is the name the secure port's certificate carries
// for Isthmus's own Service (isthmus serve --secure-dns-names).
const DefaultTLSServerName = "isthmus.istio-system.svc"

// clientCertTTL is the lifetime of the simulated sidecars' certificates:
// longer than any run.
const clientCertTTL = 24 * time.Hour

// TLSReport is what connecting over TLS with client certificates took on
// the load generator's side.
type TLSReport struct {
	ServerName string `json:"serverName"`
	// Identities is the number of distinct identities the fleet claims,
	// one client certificate each.
	Identities int `json:"identities"`
	// IssueSeconds is the wall time the load generator spent issuing them
	// (before the connect storm, not in its figures).
	IssueSeconds float64 `json:"issueSeconds"`
	// Tokens is the number of distinct service-account tokens the fleet
	// presented instead (Options.Tokens), TokenSeconds the wall time spent
	// getting them.
	Tokens       int     `json:"tokens,omitempty"`
	TokenSeconds float64 `json:"tokenSeconds,omitempty"`
}

// clientTLS issues, from the mesh CA in a directory in Istio's cacerts
// layout, one client certificate per identity the fleet claims, and gives
// each proxy the TLS credentials of its identity.
type clientTLS struct {
	ca         *certs.CA
	roots      *x509.CertPool
	serverName string
	trust      string
	creds      map[certs.Identity]credentials.TransportCredentials
	issuing    time.Duration
	tokens     *tokens // the proxies' tokens instead of certificates; nil for none
}

func newClientTLS(dir, trustDomain, serverName string) (*clientTLS, error) {
	if trustDomain == "" {
		trustDomain = certs.DefaultTrustDomain
	}
	ca, err := certs.LoadCA(dir, trustDomain)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.RootsPEM()) {
		return nil, errors.New("tls: no root certificate in the CA's roots")
	}
	if serverName == "" {
		serverName = DefaultTLSServerName
	}
	return &clientTLS{ca: ca, roots: roots, serverName: serverName, trust: trustDomain,
		creds: map[certs.Identity]credentials.TransportCredentials{}}, nil
}

// credentials are the TLS credentials of the identity id claims (its
// namespace and SERVICE_ACCOUNT), issued on first use.
func (c *clientTLS) credentials(id *Identity) (credentials.TransportCredentials, error) {
	cid := certs.Identity{TrustDomain: c.trust, Namespace: id.Namespace, ServiceAccount: id.Service.ServiceAccount()}
	if cr, ok := c.creds[cid]; ok {
		return cr, nil
	}
	start := time.Now()
	cert, err := c.ca.Issue(cid, clientCertTTL)
	if err != nil {
		return nil, fmt.Errorf("client certificate for %s: %w", cid, err)
	}
	pair, err := cert.TLSCertificate()
	if err != nil {
		return nil, err
	}
	cr := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      c.roots,
		ServerName:   c.serverName,
		MinVersion:   tls.VersionTLS12,
	})
	c.issuing += time.Since(start)
	c.creds[cid] = cr
	return cr, nil
}

// serverOnly are TLS credentials that verify the server against the mesh
// roots and present no certificate: a proxy that proves its identity with
// a token.
func (c *clientTLS) serverOnly() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{RootCAs: c.roots, ServerName: c.serverName, MinVersion: tls.VersionTLS12})
}

// bearerToken sends a service-account token with every call, as
// istio-agent does.
type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return true }

// tokens fetches each identity's token once.
type tokens struct {
	source TokenSource
	byID   map[string]bearerToken
	took   time.Duration
}

func (t *tokens) of(ctx context.Context, id *Identity) (bearerToken, error) {
	key := id.ClusterID + "/" + id.Namespace + "/" + id.Service.ServiceAccount()
	if tok, ok := t.byID[key]; ok {
		return tok, nil
	}
	start := time.Now()
	tok, err := t.source(ctx, id)
	t.took += time.Since(start)
	if err != nil {
		return "", fmt.Errorf("token of %s: %w", key, err)
	}
	t.byID[key] = bearerToken(tok)
	return bearerToken(tok), nil
}

func (c *clientTLS) report() *TLSReport {
	r := &TLSReport{ServerName: c.serverName, Identities: len(c.creds), IssueSeconds: c.issuing.Seconds()}
	if c.tokens != nil {
		r.Tokens, r.TokenSeconds = len(c.tokens.byID), c.tokens.took.Seconds()
	}
	return r
}
