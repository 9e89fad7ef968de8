//go:build !linux

package localmesh

import "syscall"

// childProcAttr has no parent-death signal outside Linux; Close still stops
// every child.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
