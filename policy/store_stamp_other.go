//go:build !linux

package policy

import "io/fs"

// sysStamp is empty where Isthmus does not read platform file details: the
// resolved path, size and modification time identify a file version.
type sysStamp struct{}

func sysStampOf(fs.FileInfo) sysStamp { return sysStamp{} }
