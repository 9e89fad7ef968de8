package main

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestSanitizeTag(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":             "v1.2.3",
		"6364db6-dirty":      "6364db6-dirty",
		"v1.0+build/feature": "v1.0_build_feature",
		"-x":                 "x",
		"":                   "dev",
	} {
		got := sanitizeTag(in)
		if got != want {
			t.Errorf("sanitizeTag(%q) = %q, want %q", in, got, want)
		}
		if _, err := name.NewTag("isthmus.local/isthmus:" + got); err != nil {
			t.Errorf("sanitizeTag(%q) = %q: %v", in, got, err)
		}
	}
}
