package certs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// CredentialPrefix starts the SDS name of a credential, as Istio names the
// Kubernetes secrets gateways reference by credentialName:
// "kubernetes://NAME" for the key pair and "kubernetes://NAME-cacert" for
// the CA certificates that verify clients.
const (
	CredentialPrefix   = "kubernetes://"
	CredentialCASuffix = "-cacert"
)

// Files of a credential, as a Kubernetes TLS secret (tls.crt, tls.key,
// ca.crt) or Istio's generic secret (cert, key, cacert) mounts them.
var (
	certFiles = []string{"tls.crt", "cert"}
	keyFiles  = []string{"tls.key", "key"}
	caFiles   = []string{"ca.crt", "cacert"}
)

// Credentials are TLS credentials read from a directory laid out as
// DIR/NAMESPACE/NAME/{tls.crt,tls.key,ca.crt}: what gateways reference by
// credentialName. Immutable.
type Credentials struct {
	byNamespace map[string][]*tlsv3.Secret // sorted by name
	// Problems lists credentials that could not be read, each naming its
	// directory and file.
	Problems []error
}

// LoadCredentials reads every credential under dir. A credential that
// cannot be read is left out and reported in Problems; a missing dir gives
// no credentials.
func LoadCredentials(dir string) (*Credentials, error) {
	c := &Credentials{byNamespace: map[string][]*tlsv3.Secret{}}
	namespaces, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	for _, ns := range namespaces {
		if ns.IsDir() {
			c.loadNamespace(filepath.Join(dir, ns.Name()), ns.Name())
		}
	}
	return c, nil
}

func (c *Credentials) loadNamespace(dir, ns string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.Problems = append(c.Problems, fmt.Errorf("credentials %s: %w", dir, err))
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		secrets, err := readCredential(filepath.Join(dir, e.Name()), e.Name())
		if err != nil {
			c.Problems = append(c.Problems, err)
			continue
		}
		c.byNamespace[ns] = append(c.byNamespace[ns], secrets...)
	}
	sort.Slice(c.byNamespace[ns], func(i, j int) bool { return c.byNamespace[ns][i].GetName() < c.byNamespace[ns][j].GetName() })
}

// Namespace lists the SDS secrets of the credentials in ns, sorted by name.
func (c *Credentials) Namespace(ns string) []*tlsv3.Secret {
	if c == nil {
		return nil
	}
	return c.byNamespace[ns]
}

// readCredential builds the secrets of one credential directory: the key
// pair (when both files are present and match) and the CA certificates
// (when present).
func readCredential(dir, name string) ([]*tlsv3.Secret, error) {
	var out []*tlsv3.Secret
	certPEM, certFile := readFirst(dir, certFiles)
	keyPEM, keyFile := readFirst(dir, keyFiles)
	if certPEM != nil || keyPEM != nil {
		if err := checkKeyPair(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("credential %s (%s, %s): %w", dir, certFile, keyFile, err)
		}
		out = append(out, &tlsv3.Secret{
			Name: CredentialPrefix + name,
			Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inlineBytes(certPEM),
				PrivateKey:       inlineBytes(keyPEM),
			}},
		})
	}
	if caPEM, caFile := readFirst(dir, caFiles); caPEM != nil {
		if _, err := parseCerts(caPEM); err != nil {
			return nil, fmt.Errorf("credential %s: %s: %w", dir, caFile, err)
		}
		out = append(out, &tlsv3.Secret{
			Name: CredentialPrefix + name + CredentialCASuffix,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inlineBytes(caPEM),
			}},
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("credential %s: none of %v, %v or %v", dir, certFiles, keyFiles, caFiles)
	}
	return out, nil
}

// readFirst reads the first of names present in dir.
func readFirst(dir string, names []string) ([]byte, string) {
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			return b, n
		}
	}
	return nil, ""
}

// checkKeyPair checks that both halves are present, parse, and match.
func checkKeyPair(certPEM, keyPEM []byte) error {
	if certPEM == nil || keyPEM == nil {
		return errors.New("needs both a certificate and a key")
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if !keyMatches(key, certs[0]) {
		return errors.New("the key does not match the certificate")
	}
	return nil
}

// WatchCredentials loads the credentials under dir, hands them to onLoad,
// and does so again whenever a file there changes (checked every
// interval), until ctx ends. Following symlinks as Kubernetes mounts them
// is left to the file system; a change of the link target's content is
// seen through its size and modification time.
func WatchCredentials(ctx context.Context, dir string, interval time.Duration, onLoad func(*Credentials, error)) {
	last, first := "", true
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if sig := treeSignature(dir); first || sig != last {
			last, first = sig, false
			onLoad(LoadCredentials(dir))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// treeSignature lists every file under dir with its size and modification
// time.
func treeSignature(dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := os.Stat(path); err == nil && !info.IsDir() {
			fmt.Fprintf(&b, "%s\x00%d\x00%d\n", path, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}
