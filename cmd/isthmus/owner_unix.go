//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwnDir refuses a directory that another user owns: they could put
// their own CA there at any time (a state directory under a shared
// temporary directory could have been made by anyone).
func checkOwnDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d)", dir, st.Uid, os.Getuid())
	}
	return nil
}
