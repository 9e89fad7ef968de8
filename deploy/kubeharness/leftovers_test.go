package kubeharness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestCleanLeftoversOfACrashedRun: what a test process that died without
// Close left of a node — its network namespace, a cgroup root holding a
// container's process, a shim-like process naming the node's directory,
// a volume mounted under it, the scratch directory — is gone after the
// next process starts cleaning, and nothing of a live process is touched.
func TestCleanLeftoversOfACrashedRun(t *testing.T) {
	key := fmt.Sprintf("kh%d-%d", deadPID(t), maxSlot+1) // a slot no real node takes
	scratch, err := os.MkdirTemp("", scratchPrefix+"crashed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scratch) })
	nodeDir := filepath.Join(scratch, key)
	volume := filepath.Join(nodeDir, "kubelet", "pods", "volume")
	if err := os.MkdirAll(volume, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := runIP("netns", "add", key); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runIP("netns", "delete", key) })
	if err := makeCgroupRoot(key); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeCgroupRoot(key) })
	container := startProcess(t, "sleep", "300")
	if err := os.WriteFile(filepath.Join(cgroupMount, "memory", key, "cgroup.procs"), []byte(strconv.Itoa(container.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	shim := startProcess(t, "sh", "-c", "while :; do sleep 0.2; done", filepath.Join(nodeDir, "containerd.sock"))
	if err := syscall.Mount("tmpfs", volume, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(volume, syscall.MNT_DETACH) })
	live := startLiveLookalike(t)

	cleanLeftovers()

	for _, p := range []*exec.Cmd{container, shim} {
		waitExited(t, p)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, key)); !os.IsNotExist(err) {
		t.Errorf("network namespace %s left (stat: %v)", key, err)
	}
	if _, err := os.Stat(filepath.Join(cgroupMount, "memory", key)); !os.IsNotExist(err) {
		t.Errorf("cgroup /%s left (stat: %v)", key, err)
	}
	if slices.Contains(mountPoints(), volume) {
		t.Errorf("mount %s left", volume)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch directory %s left (stat: %v)", scratch, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("the namespace %s of a live process was removed: %v", live, err)
	}
}

// deadPID is the PID of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// startLiveLookalike makes a namespace keyed by this (live) process, in a
// slot no real node takes, and returns its name.
func startLiveLookalike(t *testing.T) string {
	name := fmt.Sprintf("%s-%d", runKey, maxSlot+2)
	if err := runIP("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runIP("netns", "delete", name) })
	return name
}

func startProcess(t *testing.T, argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func waitExited(t *testing.T, cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("process %v (pid %d) still runs", cmd.Args, cmd.Process.Pid)
	}
}
