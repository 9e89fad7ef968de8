package kubeharness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// KubeVersion is the Kubernetes release tools/kube builds; it names the
// cache directory the binary lives in.
const KubeVersion = "v1.37.2"

// BinaryEnv names the environment variable that, when set, gives the path
// of the multi-call Kubernetes binary and overrides the cache.
const BinaryEnv = "ISTHMUS_KUBE_BIN"

// BinaryPath returns the multi-call Kubernetes binary (kube-apiserver,
// etcd, kubelet, …): $ISTHMUS_KUBE_BIN when set, else the file `make
// kube-bins` writes,
// ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/isthmus}/kube/VERSION-SOURCES/kube,
// where SOURCES is SourcesKey of the tools/kube directory found above the
// working directory (as under `go test` or `go run` in the repository). A
// missing or non-executable binary is an error telling to run
// `make kube-bins`.
func BinaryPath() (string, error) {
	path, from := os.Getenv(BinaryEnv), BinaryEnv
	if path == "" {
		var err error
		if path, err = cachedBinary(); err != nil {
			return "", err
		}
		from = "the cache"
	}
	if err := checkExecutable(path); err != nil {
		return "", fmt.Errorf("the kube binary (Kubernetes %s) from %s: %w; run `make kube-bins` to build it (several minutes, once)", KubeVersion, from, err)
	}
	return path, nil
}

// cachedBinary is where tools/kube/build.sh puts the binary of the
// repository's current tools/kube sources.
func cachedBinary() (string, error) {
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	tools, err := toolsKubeDir()
	if err != nil {
		return "", err
	}
	key, err := SourcesKey(tools)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kube", KubeVersion+"-"+key, "kube"), nil
}

// toolsKubeDir finds tools/kube in the working directory or above it.
func toolsKubeDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "tools", "kube")
		if _, err := os.Stat(filepath.Join(candidate, "build.sh")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no tools/kube/build.sh in %s or above it: run inside the Isthmus repository, or set %s", wd, BinaryEnv)
		}
	}
}

// SourcesKey is the cache key of the tools/kube sources in dir, as
// tools/kube/build.sh computes it: the first 16 hex digits of the SHA-256
// of go.mod, go.sum, every *.go file (in byte order of their names) and
// build.sh, concatenated.
func SourcesKey(dir string) (string, error) {
	goFiles, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	slices.Sort(goFiles)
	files := append([]string{filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")}, goFiles...)
	files = append(files, filepath.Join(dir, "build.sh"))
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("kube binary sources: %w", err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
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
