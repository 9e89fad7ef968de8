package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names of Istio's "cacerts" layout.
const (
	CACertFile    = "ca-cert.pem"    // the signing certificate
	CAKeyFile     = "ca-key.pem"     // its private key
	RootCertFile  = "root-cert.pem"  // the trust bundle; optional when ca-cert.pem is self-signed
	CertChainFile = "cert-chain.pem" // ca-cert.pem's chain towards the root; optional
)

// LoadCA reads a CA in Istio's cacerts layout from dir (see the *File
// constants) that issues identities in trustDomain ("" means
// DefaultTrustDomain). The CA certificate must be a currently valid CA, its
// key must match it, and it must chain to root-cert.pem through
// cert-chain.pem. Errors name the file at fault.
func LoadCA(dir, trustDomain string) (*CA, error) {
	ca, err := loadCA(dir, defaultTrustDomain(trustDomain), time.Now())
	if err != nil {
		return nil, fmt.Errorf("load CA from %s: %w", dir, err)
	}
	return ca, nil
}

// LoadOrCreateCA loads the CA in dir when it holds ca-cert.pem; when dir holds
// none of the cacerts files, or does not exist, it generates a self-signed
// root (DefaultRootTTL) and writes ca-cert.pem, ca-key.pem (0600) and
// root-cert.pem, so a restart keeps the same root. A missing dir is created
// (0700) whole, so that processes starting together agree on one root. Some
// files without ca-cert.pem is an error: nothing is overwritten. So is a dir
// that group or others can write (see CheckDirPrivate), or a ca-key.pem
// others can read.
func LoadOrCreateCA(dir, trustDomain string) (*CA, error) {
	trustDomain = defaultTrustDomain(trustDomain)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return createCADir(dir, trustDomain)
	}
	if err := CheckDirPrivate(dir); err != nil {
		return nil, fmt.Errorf("CA directory: %w", err)
	}
	if err := checkKeyPrivate(dir); err != nil {
		return nil, fmt.Errorf("CA in %s: %w", dir, err)
	}
	present, err := presentFiles(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case slices.Contains(present, CACertFile):
		return LoadCA(dir, trustDomain)
	case len(present) > 0:
		return nil, fmt.Errorf("create CA in %s: found %v but no %s; add it or remove them", dir, present, CACertFile)
	}
	ca, err := NewSelfSignedCA(trustDomain, DefaultRootTTL)
	if err != nil {
		return nil, err
	}
	if err := ca.write(dir); err != nil {
		return nil, fmt.Errorf("create CA in %s: %w", dir, err)
	}
	return ca, nil
}

func defaultTrustDomain(td string) string {
	if td == "" {
		return DefaultTrustDomain
	}
	return td
}

func loadCA(dir, trustDomain string, now time.Time) (*CA, error) {
	if err := validateTrustDomain(trustDomain); err != nil {
		return nil, err
	}
	cert, err := readCACert(dir, now)
	if err != nil {
		return nil, err
	}
	signer, err := readMatchingKey(dir, cert)
	if err != nil {
		return nil, err
	}
	intermediates, err := readChain(dir, cert)
	if err != nil {
		return nil, err
	}
	roots, err := readRoots(dir, cert)
	if err != nil {
		return nil, err
	}
	if err := verifyCAChain(cert, intermediates, roots, now); err != nil {
		return nil, err
	}
	return newCA(trustDomain, cert, signer, intermediates, encodeCerts(roots...)), nil
}

func readCACert(dir string, now time.Time) (*x509.Certificate, error) {
	certs, err := readCertFile(dir, CACertFile)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fileError(CACertFile, fmt.Errorf("holds %d certificates, want 1 (intermediates go in %s)", len(certs), CertChainFile))
	}
	if err := checkCACert(certs[0], now); err != nil {
		return nil, fileError(CACertFile, err)
	}
	return certs[0], nil
}

func checkCACert(c *x509.Certificate, now time.Time) error {
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return errors.New("not a CA certificate (basic constraints CA:TRUE missing)")
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return errors.New("key usage does not allow certificate signing (keyCertSign)")
	case now.After(c.NotAfter):
		return fmt.Errorf("expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func readMatchingKey(dir string, cert *x509.Certificate) (crypto.Signer, error) {
	data, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	signer, err := parseKey(data)
	if err != nil {
		return nil, fileError(CAKeyFile, err)
	}
	if !keyMatches(signer, cert) {
		return nil, fileError(CAKeyFile, fmt.Errorf("private key does not match the certificate in %s", CACertFile))
	}
	return signer, nil
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(key crypto.Signer, cert *x509.Certificate) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

// readChain returns the certificates of cert-chain.pem that sit between the
// CA certificate and the root: a leading copy of the CA certificate and
// self-signed roots are left out.
func readChain(dir string, caCert *x509.Certificate) ([]*x509.Certificate, error) {
	certs, err := readOptionalCertFile(dir, CertChainFile)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, c := range certs {
		if !c.Equal(caCert) && !isSelfSigned(c) {
			chain = append(chain, c)
		}
	}
	return chain, nil
}

func readRoots(dir string, caCert *x509.Certificate) ([]*x509.Certificate, error) {
	roots, err := readOptionalCertFile(dir, RootCertFile)
	if err != nil {
		return nil, err
	}
	if roots != nil {
		return roots, nil
	}
	if !isSelfSigned(caCert) {
		return nil, fileError(RootCertFile, fmt.Errorf("missing, and required because %s is not self-signed", CACertFile))
	}
	return []*x509.Certificate{caCert}, nil
}

func verifyCAChain(cert *x509.Certificate, intermediates, roots []*x509.Certificate, now time.Time) error {
	opts := x509.VerifyOptions{
		Roots:         poolOf(roots),
		Intermediates: poolOf(intermediates),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if _, err := cert.Verify(opts); err != nil {
		via := ""
		if len(intermediates) > 0 {
			via = " through " + CertChainFile
		}
		return fileError(CACertFile, fmt.Errorf("does not chain to %s%s: %w", RootCertFile, via, err))
	}
	return nil
}

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

func readCertFile(dir, name string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fileError(name, err)
	}
	return certs, nil
}

// readOptionalCertFile returns nil, nil when the file is missing or blank
// (istiod writes an empty cert-chain.pem for a self-signed root).
func readOptionalCertFile(dir, name string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bytes.TrimSpace(data)) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fileError(name, err)
	}
	return certs, nil
}

func fileError(name string, err error) error {
	return fmt.Errorf("%s: %w", name, err)
}

func presentFiles(dir string) ([]string, error) {
	var present []string
	for _, name := range []string{CACertFile, CAKeyFile, RootCertFile, CertChainFile} {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			present = append(present, name)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return present, nil
}

// write stores a self-signed CA: the key first, the certificate last, each
// file replaced atomically.
func (ca *CA) write(dir string) error {
	keyPEM, err := encodeKey(ca.signer)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{CAKeyFile, keyPEM, 0o600},
		{RootCertFile, ca.rootsPEM, 0o644},
		{CACertFile, encodeCerts(ca.cert), 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
