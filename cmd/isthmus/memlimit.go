package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where cgroup v2 states the container's memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// containerShare is the part of a container's memory limit Isthmus aims to
// stay under when no limit is given, leaving room for what the Go runtime
// does not count (stacks it has not returned, fragmentation).
const containerShare = 0.9

// applyMemoryLimit sets the Go runtime's soft memory limit: flag (a size
// such as "450MiB"; "0" for none) when given; otherwise GOMEMLIMIT when set
// (the runtime has applied it already); otherwise 90% of the container's
// cgroup limit, if any. Under the limit the garbage collector runs more
// often instead of letting the heap double: less memory for some CPU.
func applyMemoryLimit(flag string, logger *slog.Logger) error {
	limit, source, err := memoryLimit(flag, os.Getenv("GOMEMLIMIT"), readCgroupLimit)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if limit <= 0 {
		return nil
	}
	if source != "GOMEMLIMIT" {
		debug.SetMemoryLimit(limit)
	}
	logger.Info("soft memory limit", "bytes", limit, "from", source)
	return nil
}

// memoryLimit decides the limit and says where it came from.
func memoryLimit(flag, env string, cgroup func() (int64, bool)) (int64, string, error) {
	switch {
	case flag != "":
		n, err := parseSize(flag)
		return n, "--memory-limit", err
	case env != "":
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	}
	if n, ok := cgroup(); ok {
		return int64(float64(n) * containerShare), "container limit", nil
	}
	return 0, "", nil
}

// readCgroupLimit reads the cgroup v2 memory limit; false when there is
// none ("max") or it cannot be read.
func readCgroupLimit() (int64, bool) {
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n > 0
}

// sizeUnits are the suffixes GOMEMLIMIT accepts.
var sizeUnits = []struct {
	suffix string
	factor int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseSize reads a byte count written as GOMEMLIMIT is: digits and an
// optional B, KiB, MiB, GiB or TiB suffix.
func parseSize(s string) (int64, error) {
	digits, factor := s, int64(1)
	for _, u := range sizeUnits {
		if d, ok := strings.CutSuffix(s, u.suffix); ok {
			digits, factor = d, u.factor
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a size such as 450MiB or 1GiB", s)
	}
	return n * factor, nil
}
