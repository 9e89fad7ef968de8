package kubeharness

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Files of the scratch directory.
const (
	caFile                = "ca.crt"
	servingCertFile       = "apiserver.crt"
	servingKeyFile        = "apiserver.key"
	serviceAccountKeyFile = "service-account.key"
	serviceAccountPubFile = "service-account.pub"
	tokensFile            = "tokens.csv"
	adminKubeconfigFile   = "admin.kubeconfig"
)

// staticToken is one line of the apiserver's --token-auth-file.
type staticToken struct {
	token, user string
	groups      []string
}

func (t staticToken) line() string {
	return fmt.Sprintf("%s,%s,%s,\"%s\"\n", t.token, t.user, t.user, strings.Join(t.groups, ","))
}

// writeSecrets makes the cluster's CA, the apiserver's serving certificate
// (for its address host as well as loopback), the service account signing
// key and the token file holding the admin's token and others, and
// returns the admin's token.
func (c *Cluster) writeSecrets(serviceCIDR string, host net.IP, others []staticToken) (string, error) {
	ca, err := newAuthority(c.Name)
	if err != nil {
		return "", err
	}
	serving := servingLeaf(serviceCIDR)
	if !host.IsLoopback() {
		serving.ips = append(serving.ips, host)
	}
	cert, key, err := ca.issue(serving)
	if err != nil {
		return "", err
	}
	saKey, saPub, err := newSigningKey()
	if err != nil {
		return "", err
	}
	admin := staticToken{token: newToken(), user: "admin", groups: []string{"system:masters"}}
	tokens := admin.line()
	for _, t := range others {
		tokens += t.line()
	}
	c.caPEM = ca.certPEM
	return admin.token, writeFiles(c.Dir, map[string][]byte{
		caFile:                ca.certPEM,
		servingCertFile:       cert,
		servingKeyFile:        key,
		serviceAccountKeyFile: saKey,
		serviceAccountPubFile: saPub,
		tokensFile:            []byte(tokens),
	})
}

// servingLeaf names the apiserver as clients on loopback and, later, pods
// (through the first address of the Service range) reach it.
func servingLeaf(serviceCIDR string) leaf {
	return leaf{
		commonName: "kube-apiserver",
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips:   []net.IP{net.IPv4(127, 0, 0, 1), firstServiceIP(serviceCIDR)},
		usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// firstServiceIP is the ClusterIP of the `kubernetes` Service: the range's
// first address after the network's.
func firstServiceIP(serviceCIDR string) net.IP {
	prefix := netip.MustParsePrefix(serviceCIDR) // checked by Start
	return net.IP(prefix.Masked().Addr().Next().AsSlice())
}

// newToken is a random bearer token.
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
