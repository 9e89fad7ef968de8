package kubeharness

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every host resource of a node is keyed "khPID-SLOT", PID being the test
// process that made it: its network namespace, its cgroup root /KEY, and
// its directory (CLUSTER_SCRATCH/KEY, which containerd's shims and mounts
// name). A process that dies without Close leaves them; the next process
// to start a node removes those whose PID is gone.
var leftoverKey = regexp.MustCompile(`^kh([0-9]+)-[0-9]+$`)

var cleanLeftoversOnce = sync.OnceFunc(cleanLeftovers)

// cleanLeftovers removes the nodes of test processes that no longer run.
func cleanLeftovers() {
	for key, dir := range leftoverKeys() {
		slog.Info("kubeharness: removing the node of a test process that is gone", "key", key, "dir", dir)
		if err := cleanNode(key, dir); err != nil {
			slog.Warn("kubeharness: cleaning a crashed run's node", "key", key, "err", err)
		}
		if scratch := filepath.Dir(dir); dir != "" && strings.HasPrefix(filepath.Base(scratch), scratchPrefix) {
			if err := os.RemoveAll(scratch); err != nil { // the crashed cluster's scratch directory
				slog.Warn("kubeharness: removing a crashed run's scratch directory", "dir", scratch, "err", err)
			}
		}
	}
}

// leftoverKeys finds the keys of dead processes' nodes among network
// namespaces, cgroup roots and mounts, with the node directory a mount or
// process names ("" when none does).
func leftoverKeys() map[string]string {
	keys := map[string]string{}
	add := func(name string) {
		if m := leftoverKey.FindStringSubmatch(name); m != nil && !processAlive(m[1]) {
			if _, ok := keys[name]; !ok {
				keys[name] = ""
			}
		}
	}
	for _, dir := range []string{netnsDir, filepath.Join(cgroupMount, "memory")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			add(e.Name())
		}
	}
	nodeDirs, _ := filepath.Glob(filepath.Join(os.TempDir(), scratchPrefix+"*", "kh*-*"))
	for _, path := range append(mountPoints(), nodeDirs...) {
		if key, dir := nodeDirOf(path); key != "" {
			add(key)
			if known, ok := keys[key]; ok && known == "" {
				keys[key] = dir
			}
		}
	}
	return keys
}

// nodeDirOf finds, in path, a node directory SCRATCH/KEY whose scratch
// directory is a cluster's (named kubeharness-…), and returns its key and
// path.
func nodeDirOf(path string) (key, dir string) {
	parts := strings.Split(path, string(filepath.Separator))
	for i := 1; i < len(parts); i++ {
		if leftoverKey.MatchString(parts[i]) && strings.HasPrefix(parts[i-1], scratchPrefix) {
			return parts[i], strings.Join(parts[:i+1], string(filepath.Separator))
		}
	}
	return "", ""
}

func processAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil {
		return false
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// processesMentioning lists the processes whose command line contains s
// (containerd's shims name their containerd's socket, under the node's
// directory).
func processesMentioning(s string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAll sends SIGKILL to the processes list returns, again and again
// until it returns none or killGrace has passed (killing a shim lets
// another appear in its place no more, but its containers may still be
// exiting).
func killAll(list func() []int) {
	deadline := time.Now().Add(killGrace)
	for {
		pids := list()
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	if dir == "" {
		return nil
	}
	var under []string
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+string(filepath.Separator)) {
			under = append(under, m)
		}
	}
	slices.SortFunc(under, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, m := range under {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists the mount points of this process's mount namespace.
func mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var points []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if fields := strings.Fields(scanner.Text()); len(fields) > 4 {
			points = append(points, unescapeMount(fields[4]))
		}
	}
	return points
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, …).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
