//go:build !linux

package certs

// readOnlyMount is false where Isthmus does not ask the platform: a
// directory is judged by its mode alone.
func readOnlyMount(string) bool { return false }
