package certs

import (
	"strings"
	"testing"
)

func TestParseSPIFFEIDRoundTrip(t *testing.T) {
	ids := []Identity{
		{TrustDomain: DefaultTrustDomain, Namespace: "default", ServiceAccount: "bookinfo-productpage"},
		{TrustDomain: "example.org", Namespace: "istio-system", ServiceAccount: "istio_ingress.v2"},
		{TrustDomain: "td-1", Namespace: "NS", ServiceAccount: "SA"},
	}
	for _, id := range ids {
		got, err := ParseSPIFFEID(id.SPIFFEID())
		if err != nil {
			t.Fatalf("ParseSPIFFEID(%q): %v", id.SPIFFEID(), err)
		}
		if got != id {
			t.Errorf("ParseSPIFFEID(%q) = %+v, want %+v", id.SPIFFEID(), got, id)
		}
	}
}

func TestSPIFFEIDFormat(t *testing.T) {
	id := Identity{TrustDomain: "cluster.local", Namespace: "ns1", ServiceAccount: "sa1"}
	if got, want := id.SPIFFEID(), "spiffe://cluster.local/ns/ns1/sa/sa1"; got != want {
		t.Errorf("SPIFFEID() = %q, want %q", got, want)
	}
}

func TestParseSPIFFEIDRejects(t *testing.T) {
	cases := map[string]string{ // input -> part of the error
		"https://cluster.local/ns/a/sa/b":              `scheme is "https"`,
		"SPIFFE://cluster.local/ns/a/sa/b":             `scheme is "SPIFFE"`,
		"cluster.local/ns/a/sa/b":                      "does not start with spiffe://",
		"spiffe://cluster.local":                       "no path",
		"spiffe://cluster.local/":                      "no path",
		"spiffe://cluster.local/ns/a":                  "no /sa/SERVICE_ACCOUNT",
		"spiffe://cluster.local/ns/a/serviceaccount/b": "no /sa/SERVICE_ACCOUNT",
		"spiffe://cluster.local/ns/a/sa/b/extra":       "segments after the service account",
		"spiffe://cluster.local/ns/a/sa/b/":            "segments after the service account",
		"spiffe://cluster.local/sa/b/ns/a":             "does not start with /ns/NAMESPACE",
		"spiffe://cluster.local/ns//sa/b":              "namespace is empty",
		"spiffe://cluster.local/ns/a/sa/":              "service account is empty",
		"spiffe:///ns/a/sa/b":                          "trust domain is empty",
		"spiffe://Cluster.Local/ns/a/sa/b":             "trust domain",
		"spiffe://cluster.local:8080/ns/a/sa/b":        `character ':'`,
		"spiffe://user@cluster.local/ns/a/sa/b":        `character '@'`,
		"spiffe://cluster.local/ns/a/sa/b?x=1":         `character '?'`,
		"spiffe://cluster.local/ns/a/sa/b#frag":        `character '#'`,
		"spiffe://cluster.local/ns/../sa/b":            `namespace ".." not allowed`,
		"spiffe://cluster.local/ns/a%2Fb/sa/b":         `character '%'`,
	}
	for in, wantErr := range cases {
		_, err := ParseSPIFFEID(in)
		if err == nil {
			t.Errorf("ParseSPIFFEID(%q) succeeded, want error containing %q", in, wantErr)
			continue
		}
		if !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseSPIFFEID(%q) error %q, want it to quote the input and contain %q", in, err, wantErr)
		}
	}
}
