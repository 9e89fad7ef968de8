//go:build !linux

package kubeharness

import "syscall"

// childProcAttr has nothing to add outside Linux: Close must stop children.
func childProcAttr() *syscall.SysProcAttr { return nil }
