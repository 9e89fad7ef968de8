package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// spiffeTLSConfig is a mutual-TLS config as a SPIFFE workload would build it:
// present cert, require the peer's, check the peer's chain against roots for
// usage and record its SPIFFE ID (there is no host name to check).
func spiffeTLSConfig(t *testing.T, cert *Certificate, rootsPEM []byte, usage x509.ExtKeyUsage, seen *Identity) *tls.Config {
	t.Helper()
	pair, err := cert.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootsPEM)
	return &tls.Config{
		Certificates:       []tls.Certificate{pair},
		MinVersion:         tls.VersionTLS12,
		ClientAuth:         tls.RequireAnyClientCert,
		InsecureSkipVerify: true, // replaced by VerifyConnection: SPIFFE certificates have no DNS name
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := verifySPIFFEPeer(cs.PeerCertificates, roots, usage)
			*seen = id
			return err
		},
	}
}

func verifySPIFFEPeer(chain []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, errors.New("peer sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: poolOf(chain[1:]), KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := chain[0].Verify(opts); err != nil {
		return Identity{}, err
	}
	if len(chain[0].URIs) != 1 {
		return Identity{}, fmt.Errorf("peer has %d URI SANs, want 1", len(chain[0].URIs))
	}
	return ParseSPIFFEID(chain[0].URIs[0].String())
}

// handshake runs both sides of a TLS handshake over an in-memory pipe.
func handshake(clientConf, serverConf *tls.Config) (clientErr, serverErr error) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	deadline := time.Now().Add(30 * time.Second) // hang guard only
	c.SetDeadline(deadline)
	s.SetDeadline(deadline)
	client, server := tls.Client(c, clientConf), tls.Server(s, serverConf)
	serverDone := make(chan error, 1)
	go func() {
		err := server.Handshake()
		if err != nil {
			s.Close() // unblock the client
		}
		serverDone <- err
	}()
	clientErr = client.Handshake()
	if clientErr != nil {
		c.Close()
	}
	return clientErr, <-serverDone
}

func TestMutualTLSBetweenIssuedIdentities(t *testing.T) {
	interDir, _, _ := intermediateDir(t)
	intermediate, err := LoadCA(interDir, "")
	if err != nil {
		t.Fatal(err)
	}
	cas := map[string]*CA{"self-signed root": mustSelfSignedCA(t), "intermediate": intermediate}
	for name, ca := range cas {
		t.Run(name, func(t *testing.T) {
			clientID := Identity{DefaultTrustDomain, "frontend", "web"}
			serverID := Identity{DefaultTrustDomain, "backend", "api"}
			iss := NewIssuer(ca, IssuerOptions{})
			clientCert, _ := iss.Certificate(clientID)
			serverCert, _ := iss.Certificate(serverID)
			var clientSaw, serverSaw Identity
			clientErr, serverErr := handshake(
				spiffeTLSConfig(t, clientCert, ca.RootsPEM(), x509.ExtKeyUsageServerAuth, &clientSaw),
				spiffeTLSConfig(t, serverCert, ca.RootsPEM(), x509.ExtKeyUsageClientAuth, &serverSaw),
			)
			if clientErr != nil || serverErr != nil {
				t.Fatalf("handshake failed: client %v, server %v", clientErr, serverErr)
			}
			if clientSaw != serverID {
				t.Errorf("client saw %s, want %s", clientSaw, serverID)
			}
			if serverSaw != clientID {
				t.Errorf("server saw %s, want %s", serverSaw, clientID)
			}
		})
	}
}

func TestMutualTLSRejectsAnotherCA(t *testing.T) {
	ours, theirs := mustSelfSignedCA(t), mustSelfSignedCA(t)
	serverCert, err := ours.Issue(Identity{DefaultTrustDomain, "backend", "api"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	intruder, err := theirs.Issue(Identity{DefaultTrustDomain, "frontend", "web"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var clientSaw, serverSaw Identity
	_, serverErr := handshake(
		spiffeTLSConfig(t, intruder, theirs.RootsPEM(), x509.ExtKeyUsageServerAuth, &clientSaw),
		spiffeTLSConfig(t, serverCert, ours.RootsPEM(), x509.ExtKeyUsageClientAuth, &serverSaw),
	)
	if serverErr == nil {
		t.Fatal("server accepted a client certificate from another CA")
	}
}
