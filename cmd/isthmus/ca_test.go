package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// caFromFlags builds the CA as isthmus serve does from its command line.
func caFromFlags(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	opts, _, err := parseServeFlags(append([]string{"--config-dir", "."}, args...))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := openCA(opts, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return ca.RootsPEM(), nil
}

func mustCAFromFlags(t *testing.T, args ...string) []byte {
	t.Helper()
	root, err := caFromFlags(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Without --ca-dir, the root is kept in the state directory ($XDG_STATE_HOME
// here): a restart serves the same root. The directory is private.
func TestServeKeepsTheRootInTheStateDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	first := mustCAFromFlags(t)
	if second := mustCAFromFlags(t); !bytes.Equal(first, second) {
		t.Fatal("a restart with the same state directory changed the root")
	}
	state := filepath.Join(xdg, "isthmus")
	info, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("state directory mode %04o, want 0700", perm)
	}
	if _, err := os.Stat(filepath.Join(state, "ca", "ca-key.pem")); err != nil {
		t.Errorf("CA not kept in STATE/ca in the cacerts layout: %v", err)
	}
	if other := mustCAFromFlags(t, "--state-dir", t.TempDir()); bytes.Equal(first, other) {
		t.Error("another state directory gave the same root")
	}
}

// --ephemeral-ca keeps the root in memory: a new one each start, nothing
// written.
func TestServeEphemeralCA(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if bytes.Equal(mustCAFromFlags(t, "--state-dir", state, "--ephemeral-ca"), mustCAFromFlags(t, "--state-dir", state, "--ephemeral-ca")) {
		t.Error("two starts with --ephemeral-ca gave the same root")
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("--ephemeral-ca touched the state directory: %v", err)
	}
}

// --ca-dir takes precedence over the state directory.
func TestServeCADirOverridesStateDir(t *testing.T) {
	state, caDir := filepath.Join(t.TempDir(), "state"), filepath.Join(t.TempDir(), "ca")
	root := mustCAFromFlags(t, "--state-dir", state, "--ca-dir", caDir)
	if written, err := os.ReadFile(filepath.Join(caDir, "root-cert.pem")); err != nil || !bytes.Equal(written, root) {
		t.Errorf("root not kept in --ca-dir: %v", err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("--ca-dir touched the state directory: %v", err)
	}
}

// A state directory others can write to, or a CA key others can read, is
// refused at start with an error naming the flag and the fault.
func TestServeRefusesAnUnsafeStateDir(t *testing.T) {
	state := t.TempDir()
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := caFromFlags(t, "--state-dir", state)
	if err == nil || !strings.Contains(err.Error(), "--state-dir") || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable state directory: %v", err)
	}
	if err := os.Chmod(state, 0o700); err != nil {
		t.Fatal(err)
	}
	mustCAFromFlags(t, "--state-dir", state)
	if err := os.Chmod(filepath.Join(state, "ca", "ca-key.pem"), 0o604); err != nil {
		t.Fatal(err)
	}
	_, err = caFromFlags(t, "--state-dir", state)
	if err == nil || !strings.Contains(err.Error(), "--state-dir") || !strings.Contains(err.Error(), "ca-key.pem: readable by others") {
		t.Errorf("CA key readable by others: %v", err)
	}
}

func TestDefaultStateDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "/var/xdg")
	if got := defaultStateDir(); got != "/var/xdg/isthmus" {
		t.Errorf("with XDG_STATE_HOME: %s", got)
	}
	t.Setenv("XDG_STATE_HOME", "relative") // ignored, as the XDG spec says
	if got, want := defaultStateDir(), filepath.Join(home, ".local", "state", "isthmus"); got != want {
		t.Errorf("with HOME: %s, want %s", got, want)
	}
	t.Setenv("HOME", "")
	if got, want := defaultStateDir(), filepath.Join(os.TempDir(), fmt.Sprintf("isthmus-%d", os.Getuid())); got != want {
		t.Errorf("without a home: %s, want %s", got, want)
	}
}

func TestServeCAFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--config-dir", ".", "--ca-dir", "x", "--ephemeral-ca"},
		{"--config-dir", ".", "--state-dir", ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := runServe(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
