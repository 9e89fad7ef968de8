package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckDirPrivate refuses a directory that users other than its owner can
// write to: whoever can write there can plant a CA of their own. A directory
// on a read-only mount (Kubernetes mounts Secret volumes so, world-writable
// in mode) passes, as nobody can write there.
func CheckDirPrivate(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 && !readOnlyMount(dir) {
		return fmt.Errorf("%s is writable by group or others (mode %04o); make it private (chmod go-w)", dir, perm)
	}
	return nil
}

// checkKeyPrivate refuses a CA key file that others (users neither owner
// nor in the file's group) can read. A missing key passes.
func checkKeyPrivate(dir string) error {
	info, err := os.Stat(filepath.Join(dir, CAKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case info.Mode().Perm()&0o004 != 0:
		return fileError(CAKeyFile, fmt.Errorf("readable by others (mode %04o); chmod o-r it (for a Kubernetes Secret volume, set defaultMode: 0400)", info.Mode().Perm()))
	}
	return nil
}

// createCADir generates a self-signed root (DefaultRootTTL), writes it into
// a new directory beside dir and renames that into place, so that dir never
// holds a partial CA. When another process creates dir first, its CA is
// loaded instead.
func createCADir(dir, trustDomain string) (*CA, error) {
	ca, err := NewSelfSignedCA(trustDomain, DefaultRootTTL)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("create CA in %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".*")
	if err != nil {
		return nil, fmt.Errorf("create CA in %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp) // gone once renamed
	if err := ca.write(tmp); err != nil {
		return nil, fmt.Errorf("create CA in %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr == nil {
			return LoadCA(dir, trustDomain) // another process was first
		}
		return nil, fmt.Errorf("create CA in %s: %w", dir, err)
	}
	return ca, nil
}
