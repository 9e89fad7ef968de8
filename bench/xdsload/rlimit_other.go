//go:build !unix

package xdsload

func raiseFileLimit(int) error { return nil }
