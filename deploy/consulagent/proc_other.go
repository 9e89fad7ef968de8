//go:build !linux

package consulagent

import "syscall"

// childProcAttr has no parent-death signal outside Linux; Stop still ends
// the agent.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}
