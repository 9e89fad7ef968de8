package certs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCredential(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadCredentials(t *testing.T) {
	ca, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ca.Issue(Identity{DefaultTrustDomain, "istio-system", "a"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.Issue(Identity{DefaultTrustDomain, "istio-system", "b"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeCredential(t, filepath.Join(dir, "istio-system", "tls-cred"), map[string][]byte{"tls.crt": a.ChainPEM, "tls.key": a.KeyPEM, "ca.crt": ca.RootsPEM()})
	writeCredential(t, filepath.Join(dir, "istio-system", "generic-cred"), map[string][]byte{"cert": b.ChainPEM, "key": b.KeyPEM})
	writeCredential(t, filepath.Join(dir, "istio-system", "mismatched"), map[string][]byte{"tls.crt": a.ChainPEM, "tls.key": b.KeyPEM})
	writeCredential(t, filepath.Join(dir, "other", "ca-only"), map[string][]byte{"ca.crt": ca.RootsPEM()})

	creds, err := LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range creds.Namespace("istio-system") {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.GetName(), err)
		}
		names = append(names, s.GetName())
	}
	want := "kubernetes://generic-cred kubernetes://tls-cred kubernetes://tls-cred-cacert"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("istio-system credentials %q, want %q", got, want)
	}
	if got := creds.Namespace("other"); len(got) != 1 || got[0].GetName() != "kubernetes://ca-only-cacert" {
		t.Errorf("other namespace: %v", got)
	}
	if len(creds.Problems) != 1 || !strings.Contains(creds.Problems[0].Error(), "mismatched") ||
		!strings.Contains(creds.Problems[0].Error(), "does not match") {
		t.Errorf("problems %v, want one naming the mismatched credential", creds.Problems)
	}
}

func TestLoadCredentialsFromAMissingDirectory(t *testing.T) {
	creds, err := LoadCredentials(filepath.Join(t.TempDir(), "absent"))
	if err != nil || len(creds.Namespace("istio-system")) != 0 {
		t.Fatalf("LoadCredentials = %v, %v; want none and no error", creds, err)
	}
}

// WatchCredentials hands over the credentials at start and again once a
// file changes.
func TestWatchCredentialsSeesChanges(t *testing.T) {
	ca, err := NewSelfSignedCA(DefaultTrustDomain, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	loads := make(chan *Credentials, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go WatchCredentials(ctx, dir, 10*time.Millisecond, func(c *Credentials, err error) {
		if err != nil {
			t.Error(err)
		}
		loads <- c
	})
	if c := <-loads; len(c.Namespace("gw")) != 0 {
		t.Fatalf("credentials before any file: %v", c.Namespace("gw"))
	}
	writeCredential(t, filepath.Join(dir, "gw", "cred"), map[string][]byte{"ca.crt": ca.RootsPEM()})
	select {
	case c := <-loads:
		if got := c.Namespace("gw"); len(got) != 1 || got[0].GetName() != "kubernetes://cred-cacert" {
			t.Fatalf("credentials after the write: %v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new credential was not loaded")
	}
}
