//go:build unix

package xdsload

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft open-file limit toward the hard limit so
// that n connections fit.
func raiseFileLimit(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read open-file limit: %w", err)
	}
	if lim.Cur >= uint64(n) || lim.Cur == lim.Max {
		if lim.Cur < uint64(n) {
			return fmt.Errorf("open-file limit %d is below the %d needed", lim.Cur, n)
		}
		return nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise open-file limit: %w", err)
	}
	if lim.Cur < uint64(n) {
		return fmt.Errorf("open-file limit %d is below the %d needed", lim.Cur, n)
	}
	return nil
}
