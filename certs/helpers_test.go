package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var testID = Identity{TrustDomain: DefaultTrustDomain, Namespace: "default", ServiceAccount: "reviews"}

// pki is a certificate and its key, made by the tests' own fixture code.
type pki struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type certSpec struct {
	cn        string
	isCA      bool
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer // nil: a new ECDSA P-256 key
}

func caSpec(cn string) certSpec {
	return certSpec{cn: cn, isCA: true, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(365 * 24 * time.Hour)}
}

// makeCert signs spec with parent, or self-signs when parent is nil.
func makeCert(t testing.TB, spec certSpec, parent *pki) *pki {
	t.Helper()
	key := spec.key
	if key == nil {
		key = newTestKey(t)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: spec.cn, Organization: []string{"Isthmus test"}},
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		IsCA:                  spec.isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if spec.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{cert: cert, key: key}
}

// writeCACerts writes a cacerts directory; nil or empty entries are not written.
func writeCACerts(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if data == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func keyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	b, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// intermediateDir writes root → intermediate in the cacerts layout, as Istio's
// plugged-in CA docs describe (cert-chain.pem = intermediate then root).
func intermediateDir(t testing.TB) (dir string, root, inter *pki) {
	t.Helper()
	dir = t.TempDir()
	root = makeCert(t, caSpec("Root CA"), nil)
	inter = makeCert(t, caSpec("Intermediate CA"), root)
	writeCACerts(t, dir, map[string][]byte{
		CACertFile:    encodeCerts(inter.cert),
		CAKeyFile:     keyPEM(t, inter.key),
		RootCertFile:  encodeCerts(root.cert),
		CertChainFile: encodeCerts(inter.cert, root.cert),
	})
	return dir, root, inter
}

func mustSelfSignedCA(t testing.TB) *CA {
	t.Helper()
	ca, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour*24*30)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustParseChain(t testing.TB, chainPEM []byte) []*x509.Certificate {
	t.Helper()
	certs, err := parseCerts(chainPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// verifyLeaf checks chainPEM's leaf against rootsPEM, using the rest of the
// chain as intermediates, for usage.
func verifyLeaf(t testing.TB, chainPEM, rootsPEM []byte, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	chain := mustParseChain(t, chainPEM)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootsPEM) {
		t.Fatal("RootsPEM holds no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: poolOf(chain[1:]), KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := chain[0].Verify(opts); err != nil {
		t.Fatalf("leaf does not verify against RootsPEM for usage %v: %v", usage, err)
	}
	return chain[0]
}

func newTestKey(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
