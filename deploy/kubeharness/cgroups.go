package kubeharness

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// cgroupMount is where the cgroup v1 hierarchies are mounted, one
// directory per controller (the kubelet runs with cgroupDriver cgroupfs).
const cgroupMount = "/sys/fs/cgroup"

// cgroupHierarchies are the directories of cgroupMount holding a v1
// hierarchy (cpu, memory, …, the named systemd one); the unified v2 mount
// of a hybrid host is left out.
func cgroupHierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupMount)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		dir := filepath.Join(cgroupMount, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil && e.Name() != "unified" {
			dirs = append(dirs, dir)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("cgroups: no cgroup v1 hierarchy under %s (kubeharness's nodes need one)", cgroupMount)
	}
	return dirs, nil
}

// makeCgroupRoot creates the node's cgroup root (/NAME) in every
// hierarchy, with cpuset's CPUs and memory nodes copied from the parent
// (a new cpuset has none, and the kubelet refuses a root it cannot use).
func makeCgroupRoot(name string) error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hierarchies {
		dir := filepath.Join(h, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) == "cpuset" {
			if err := inheritCpuset(h, dir); err != nil {
				return err
			}
		}
	}
	return nil
}

func inheritCpuset(parent, dir string) error {
	for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
		value, err := os.ReadFile(filepath.Join(parent, file))
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", parent, err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
			return fmt.Errorf("cgroup %s: %s: %w", dir, file, err)
		}
	}
	return nil
}

// cgroupPIDs lists the processes in the node's cgroup root and below it,
// in any hierarchy.
func cgroupPIDs(name string) []int {
	hierarchies, _ := cgroupHierarchies()
	var pids []int
	for _, h := range hierarchies {
		_ = filepath.WalkDir(filepath.Join(h, name), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "cgroup.procs" {
				pids = append(pids, readPIDs(path)...)
			}
			return nil
		})
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

func readPIDs(path string) []int {
	data, _ := os.ReadFile(path)
	var pids []int
	for _, field := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(field); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeCgroupRoot removes the node's cgroups, deepest first, in every
// hierarchy. A cgroup still holding a process stays (and is reported).
func removeCgroupRoot(name string) error {
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var failed []string
	for _, h := range hierarchies {
		root := filepath.Join(h, name)
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for _, dir := range slices.Backward(dirs) {
			if err := syscall.Rmdir(dir); err != nil && !os.IsNotExist(err) {
				failed = append(failed, dir+": "+err.Error())
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cgroups left: %s", strings.Join(failed, "; "))
	}
	return nil
}
