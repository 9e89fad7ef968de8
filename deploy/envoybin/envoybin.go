// Package envoybin finds the Envoy binary that tests run against.
//
// Contract: Path looks, in order, at the ENVOY_BIN environment variable, at
// .tools/python/envoy/_bin/envoy under the module root (where `make tools`
// installs Envoy), and at `envoy` on PATH. When none is usable it returns an
// error telling the user to run `make tools`; tests that need Envoy fail on
// that error rather than skip.
package envoybin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// toolsPath is where `make tools` installs Envoy, relative to the module root.
var toolsPath = filepath.Join(".tools", "python", "envoy", "_bin", "envoy")

// Path returns the path of an executable Envoy.
func Path() (string, error) {
	if p := os.Getenv("ENVOY_BIN"); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("ENVOY_BIN=%s: %w (run `make tools` to install Envoy)", p, err)
		}
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, toolsPath)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	return "", errors.New("envoy not found in ENVOY_BIN, " + toolsPath + " or PATH: run `make tools` to install it")
}

func checkExecutable(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Version is the version `envoy --version` reports for the binary at bin,
// e.g. "9e55…/1.40.0/Clean/RELEASE/BoringSSL".
func Version(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	text := strings.TrimSpace(string(out))
	if _, v, ok := strings.Cut(text, "version:"); ok {
		return strings.TrimSpace(v), nil
	}
	return text, nil
}
