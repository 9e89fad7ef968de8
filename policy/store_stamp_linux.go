//go:build linux

package policy

import (
	"io/fs"
	"syscall"
)

// sysStamp is the part of a file stamp only the platform knows: the device
// and inode tell a replaced file apart, the change time catches a rewrite
// that kept size and modification time (copied with its times preserved).
type sysStamp struct {
	dev, ino uint64
	ctime    int64 // nanoseconds since the epoch
}

func sysStampOf(info fs.FileInfo) sysStamp {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return sysStamp{}
	}
	return sysStamp{dev: uint64(st.Dev), ino: st.Ino, ctime: st.Ctim.Nano()}
}
