package certs

import (
	"testing"
	"time"
)

func BenchmarkIssue(b *testing.B) {
	ca := mustSelfSignedCA(b)
	for b.Loop() {
		if _, err := ca.Issue(testID, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssuerSecretsCached is the cost of Secrets for an identity that
// already holds a certificate: what every push pays per proxy.
func BenchmarkIssuerSecretsCached(b *testing.B) {
	iss := NewIssuer(mustSelfSignedCA(b), IssuerOptions{})
	if _, _, err := iss.Secrets(testID); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := iss.Secrets(testID); err != nil {
			b.Fatal(err)
		}
	}
}
