package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadCASelfSignedWithoutRootFile(t *testing.T) {
	dir := t.TempDir()
	root := makeCert(t, caSpec("Root CA"), nil)
	writeCACerts(t, dir, map[string][]byte{
		CACertFile:    encodeCerts(root.cert),
		CAKeyFile:     keyPEM(t, root.key),
		CertChainFile: {}, // istiod writes it empty for a self-signed root
	})
	ca, err := LoadCA(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if ca.TrustDomain() != DefaultTrustDomain {
		t.Errorf("TrustDomain() = %q, want %q", ca.TrustDomain(), DefaultTrustDomain)
	}
	if !bytes.Equal(ca.RootsPEM(), encodeCerts(root.cert)) {
		t.Error("RootsPEM is not ca-cert.pem for a self-signed CA without root-cert.pem")
	}
	cert, err := ca.Issue(testID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	verifyLeaf(t, cert.ChainPEM, ca.RootsPEM(), x509.ExtKeyUsageAny)
}

func TestLoadCAIntermediate(t *testing.T) {
	dir, root, inter := intermediateDir(t)
	ca, err := LoadCA(dir, DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.RootsPEM(), encodeCerts(root.cert)) {
		t.Error("RootsPEM is not root-cert.pem")
	}
	cert, err := ca.Issue(testID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	chain := mustParseChain(t, cert.ChainPEM)
	if len(chain) != 2 || !chain[1].Equal(inter.cert) {
		t.Fatalf("chain has %d certificates, want leaf then the intermediate (and no root)", len(chain))
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageAny, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		verifyLeaf(t, cert.ChainPEM, ca.RootsPEM(), usage)
	}
	if leaf := chain[0]; !bytes.Equal(leaf.RawIssuer, inter.cert.RawSubject) {
		t.Error("leaf is not issued by the intermediate")
	}
}

func TestLoadCAIntermediateCappedByChain(t *testing.T) {
	dir := t.TempDir()
	root := makeCert(t, caSpec("Root CA"), nil)
	middleSpec := caSpec("Middle CA")
	middleSpec.notAfter = time.Now().Add(2 * time.Hour)
	middle := makeCert(t, middleSpec, root)
	inter := makeCert(t, caSpec("Issuing CA"), middle)
	writeCACerts(t, dir, map[string][]byte{
		CACertFile:    encodeCerts(inter.cert),
		CAKeyFile:     keyPEM(t, inter.key),
		RootCertFile:  encodeCerts(root.cert),
		CertChainFile: encodeCerts(inter.cert, middle.cert, root.cert),
	})
	ca, err := LoadCA(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(testID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(middle.cert.NotAfter) {
		t.Errorf("NotAfter = %v, want capped at the middle CA's %v", cert.NotAfter, middle.cert.NotAfter)
	}
	if n := len(mustParseChain(t, cert.ChainPEM)); n != 3 {
		t.Errorf("chain has %d certificates, want leaf, issuing CA, middle CA", n)
	}
	verifyLeaf(t, cert.ChainPEM, ca.RootsPEM(), x509.ExtKeyUsageServerAuth)
}

func TestLoadCAErrorsNameTheFile(t *testing.T) {
	root := makeCert(t, caSpec("Root CA"), nil)
	other := makeCert(t, caSpec("Other CA"), nil)
	inter := makeCert(t, caSpec("Intermediate CA"), root)
	leafSpec := caSpec("leaf")
	leafSpec.isCA = false
	leaf := makeCert(t, leafSpec, root)
	expiredSpec := caSpec("Expired CA")
	expiredSpec.notBefore, expiredSpec.notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	expired := makeCert(t, expiredSpec, nil)
	futureSpec := caSpec("Future CA")
	futureSpec.notBefore = time.Now().Add(time.Hour)
	future := makeCert(t, futureSpec, nil)

	cases := map[string]struct {
		files    map[string][]byte
		wantFile string
		wantErr  string
	}{
		"key does not match": {
			files:    map[string][]byte{CACertFile: encodeCerts(root.cert), CAKeyFile: keyPEM(t, other.key)},
			wantFile: CAKeyFile, wantErr: "private key does not match the certificate in ca-cert.pem",
		},
		"not a CA": {
			files:    map[string][]byte{CACertFile: encodeCerts(leaf.cert), CAKeyFile: keyPEM(t, leaf.key), RootCertFile: encodeCerts(root.cert)},
			wantFile: CACertFile, wantErr: "not a CA certificate",
		},
		"expired": {
			files:    map[string][]byte{CACertFile: encodeCerts(expired.cert), CAKeyFile: keyPEM(t, expired.key)},
			wantFile: CACertFile, wantErr: "expired at",
		},
		"not yet valid": {
			files:    map[string][]byte{CACertFile: encodeCerts(future.cert), CAKeyFile: keyPEM(t, future.key)},
			wantFile: CACertFile, wantErr: "not valid before",
		},
		"missing key": {
			files:    map[string][]byte{CACertFile: encodeCerts(root.cert)},
			wantFile: CAKeyFile, wantErr: "no such file",
		},
		"missing cert": {
			files:    map[string][]byte{CAKeyFile: keyPEM(t, root.key)},
			wantFile: CACertFile, wantErr: "no such file",
		},
		"garbage cert": {
			files:    map[string][]byte{CACertFile: []byte("not pem"), CAKeyFile: keyPEM(t, root.key)},
			wantFile: CACertFile, wantErr: "no CERTIFICATE block",
		},
		"garbage key": {
			files:    map[string][]byte{CACertFile: encodeCerts(root.cert), CAKeyFile: encodeCerts(root.cert)},
			wantFile: CAKeyFile, wantErr: "no PRIVATE KEY",
		},
		"two certs in ca-cert": {
			files:    map[string][]byte{CACertFile: encodeCerts(inter.cert, root.cert), CAKeyFile: keyPEM(t, inter.key)},
			wantFile: CACertFile, wantErr: "holds 2 certificates, want 1",
		},
		"intermediate without root file": {
			files:    map[string][]byte{CACertFile: encodeCerts(inter.cert), CAKeyFile: keyPEM(t, inter.key)},
			wantFile: RootCertFile, wantErr: "missing, and required because ca-cert.pem is not self-signed",
		},
		"intermediate under another root": {
			files:    map[string][]byte{CACertFile: encodeCerts(inter.cert), CAKeyFile: keyPEM(t, inter.key), RootCertFile: encodeCerts(other.cert)},
			wantFile: CACertFile, wantErr: "does not chain to root-cert.pem",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeCACerts(t, dir, c.files)
			_, err := LoadCA(dir, "")
			if err == nil {
				t.Fatal("LoadCA succeeded")
			}
			t.Log(err)
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, c.wantFile) || !strings.Contains(msg, c.wantErr) {
				t.Errorf("error %q, want it to name %s and say %q", err, c.wantFile, c.wantErr)
			}
		})
	}
}

func TestLoadCAAcceptsECAndRSAKeyEncodings(t *testing.T) {
	ecRoot := makeCert(t, caSpec("EC Root CA"), nil)
	ecDER, err := x509.MarshalECPrivateKey(ecRoot.key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSpec := caSpec("RSA Root CA")
	rsaSpec.key = rsaKey
	rsaRoot := makeCert(t, rsaSpec, nil)
	cases := map[string][]byte{
		"EC PRIVATE KEY":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"RSA PRIVATE KEY": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}),
	}
	certFor := map[string]*pki{"EC PRIVATE KEY": ecRoot, "RSA PRIVATE KEY": rsaRoot}
	for name, key := range cases {
		dir := t.TempDir()
		writeCACerts(t, dir, map[string][]byte{CACertFile: encodeCerts(certFor[name].cert), CAKeyFile: key})
		ca, err := LoadCA(dir, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cert, err := ca.Issue(testID, time.Hour)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		verifyLeaf(t, cert.ChainPEM, ca.RootsPEM(), x509.ExtKeyUsageClientAuth)
	}
}

func TestLoadOrCreateCAPersistsTheRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cacerts")
	first, err := LoadOrCreateCA(dir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode %v, want 0600", CAKeyFile, perm)
	}
	second, err := LoadOrCreateCA(dir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.RootsPEM(), second.RootsPEM()) {
		t.Error("reloading gave another root")
	}
	if second.TrustDomain() != "example.org" {
		t.Errorf("TrustDomain() = %q after reload", second.TrustDomain())
	}
	cert, err := second.Issue(Identity{"example.org", "ns", "sa"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	verifyLeaf(t, cert.ChainPEM, first.RootsPEM(), x509.ExtKeyUsageServerAuth)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("dir holds %d files, want ca-cert.pem, ca-key.pem, root-cert.pem", len(entries))
	}
}

func TestLoadOrCreateCALoadsPluggedInCA(t *testing.T) {
	dir, root, _ := intermediateDir(t)
	ca, err := LoadOrCreateCA(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.RootsPEM(), encodeCerts(root.cert)) {
		t.Error("LoadOrCreateCA did not load the existing intermediate CA")
	}
}

func TestLoadOrCreateCARefusesPartialDir(t *testing.T) {
	dir := t.TempDir()
	root := makeCert(t, caSpec("Root CA"), nil)
	keyFile := filepath.Join(dir, CAKeyFile)
	writeCACerts(t, dir, map[string][]byte{CAKeyFile: keyPEM(t, root.key)})
	_, err := LoadOrCreateCA(dir, "")
	if err == nil || !strings.Contains(err.Error(), "no "+CACertFile) {
		t.Fatalf("err = %v, want a refusal naming the missing %s", err, CACertFile)
	}
	if got, _ := os.ReadFile(keyFile); !bytes.Equal(got, keyPEM(t, root.key)) {
		t.Error("the existing key was overwritten")
	}
}
