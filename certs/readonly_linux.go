//go:build linux

package certs

import "syscall"

// stRdOnly is statfs's ST_RDONLY flag: the file system is mounted read-only.
const stRdOnly = 0x1

// readOnlyMount reports whether dir lies on a read-only mount.
func readOnlyMount(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Flags&stRdOnly != 0
}
