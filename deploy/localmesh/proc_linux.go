package localmesh

import "syscall"

// childProcAttr makes children die with the parent, so a crashed test run
// leaves no Envoy or Isthmus behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
