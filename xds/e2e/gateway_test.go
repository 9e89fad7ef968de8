package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isthmus-mesh/isthmus/deploy/localmesh"
)

// gatewayPort is the port of the test gateway's HTTPS server.
const gatewayPort = 18443

// serverCertificate makes a CA and a server certificate for host, as PEM.
func serverCertificate(t *testing.T, host string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := localmesh.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err = ca.Issue([]string{host}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca.PEM, certPEM, keyPEM
}

// writeGatewayCredential stores a TLS credential where isthmus serve
// --credentials-dir reads it: NAMESPACE/NAME/{tls.crt,tls.key}.
func (m *mesh) writeGatewayCredential(t *testing.T, name string, certPEM, keyPEM []byte) {
	t.Helper()
	dir := filepath.Join(m.credDir, "default", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := localmesh.WriteFileAtomic(dir, file, data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIngressGatewayTerminatesTLS: an ingress gateway proxy (a "router"
// Envoy) terminates HTTPS with the certificate its Gateway names by
// credentialName, which Isthmus serves over SDS from --credentials-dir,
// and routes by the bound VirtualService to the service. While the
// credential is missing the gateway still gets the rest of its
// configuration; once the credential is written, HTTPS starts working.
func TestIngressGatewayTerminatesTLS(t *testing.T) {
	s := newScenario(t, "gateway", "v1")
	gw := s.name + "-gw"
	const host = "shop.example.com"
	caPEM, certPEM, keyPEM := serverCertificate(t, host)
	ip, err := localmesh.RandomLoopbackIP(gatewayPort)
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, s.serviceEntry(), fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: %[1]s, namespace: default}
spec:
  selector: {istio: %[1]s}
  servers:
  - port: {number: %[2]d, name: https, protocol: HTTPS}
    bind: %[3]s
    hosts: [%[4]s]
    tls: {mode: SIMPLE, credentialName: %[1]s-cred}`, gw, gatewayPort, ip, host),
		fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: default}
spec:
  hosts: [%[2]s]
  gateways: [%[1]s]
  http:
  - route: [{destination: {host: %[3]s}}]`, gw, host, s.host))

	envoy := s.startEnvoy(t, gw, gatewayNode(gw, ip), "")
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	waitUntil(t, "the gateway's listener, waiting for its credential", func() bool {
		dump, err := envoy.ConfigDump(ctx, "resource=dynamic_listeners")
		return err == nil && strings.Contains(string(dump), "kubernetes://"+gw+"-cred")
	})
	s.m.writeGatewayCredential(t, gw+"-cred", certPEM, keyPEM)
	addr := net.JoinHostPort(ip, strconv.Itoa(gatewayPort))
	if err := envoy.WaitListener(ctx, addr); err != nil {
		dump, _ := envoy.ConfigDump(ctx, "")
		t.Fatalf("%v\nconfig dump:\n%.3000s\nisthmus log:\n%s", err, dump, s.m.isthmus.LogTail(20))
	}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	waitUntil(t, "HTTPS through the gateway to reach "+s.up("v1"), func() bool {
		resp, err := client.Get("https://" + host + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK && resp.Header.Get("X-Upstream") == s.up("v1")
	})
	resp, err := client.Get("https://" + host + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != host {
		t.Errorf("gateway presented a certificate for %v, want the credential's %s", got, host)
	}
}
