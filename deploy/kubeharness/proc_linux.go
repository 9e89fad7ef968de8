package kubeharness

import "syscall"

// childProcAttr makes children die with the test process, so a crashed
// run leaves no apiserver or etcd behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
