package kubeharness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KubeVersion is the Kubernetes release tools/kube builds; it names the
// cache directory the binary lives in.
const KubeVersion = "v1.37.2"

// BinaryEnv names the environment variable that, when set, gives the path
// of the multi-call Kubernetes binary and overrides the cache.
const BinaryEnv = "ISTHMUS_KUBE_BIN"

// BinaryPath returns the multi-call Kubernetes binary (kube-apiserver,
// etcd, …): $ISTHMUS_KUBE_BIN when set, else the file `make kube-bins`
// writes, ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}/kube/VERSION/kube.
// A missing or non-executable binary is an error telling to run
// `make kube-bins`.
func BinaryPath() (string, error) {
	path, from := os.Getenv(BinaryEnv), BinaryEnv
	if path == "" {
		dir, err := cacheDir()
		if err != nil {
			return "", err
		}
		path, from = filepath.Join(dir, "kube", KubeVersion, "kube"), "the cache"
	}
	if err := checkExecutable(path); err != nil {
		return "", fmt.Errorf("the kube binary (Kubernetes %s) from %s: %w; run `make kube-bins` to build it (several minutes, once)", KubeVersion, from, err)
	}
	return path, nil
}

// cacheDir is Isthmus's cache directory, as tools/kube/build.sh computes it.
func cacheDir() (string, error) {
	if dir := os.Getenv("ISTHMUS_CACHE"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "isthmus"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", errors.New("no cache directory: ISTHMUS_CACHE, XDG_CACHE_HOME and HOME are all unset")
	}
	return filepath.Join(home, ".cache", "isthmus"), nil
}

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
