//go:build !linux

package capture

import "testing"

// TestRedirectCapture needs Linux network namespaces and iptables; elsewhere
// it fails rather than passing without having tested anything.
func TestRedirectCapture(t *testing.T) {
	t.Fatal("the REDIRECT capture test needs Linux (network namespaces and iptables)")
}
