package crd

import (
	"os"
	"testing"
)

// TestMain turns off client-go's streaming lists, which the istio.io
// client-go fake clientset does not implement (it never sends the bookmark
// that ends the initial events). Real API servers are used elsewhere.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}
