package consulagent

import "syscall"

// childProcAttr makes the agent die with its parent, so a crashed test run
// leaves no Consul behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
