package localmesh

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/isthmus-mesh/isthmus/deploy/envoybin"
)

// modulePath is the Go module whose isthmus command the harness builds.
const modulePath = "github.com/isthmus-mesh/isthmus"

// EnvoyPath locates the Envoy binary (see envoybin.Path). A missing binary
// is an error telling the user to run `make tools`.
func EnvoyPath() (string, error) {
	return envoybin.Path()
}

// RepoRoot finds the Isthmus repository root by walking up from the working
// directory to the go.mod that declares the Isthmus module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module "+modulePath)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s above the working directory", modulePath)
		}
		dir = parent
	}
}

// BuildIsthmus compiles the isthmus command into dir and returns the path of
// the binary.
func BuildIsthmus(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "isthmus")
	cmd := []string{"build", "-o", bin, "./cmd/isthmus"}
	if _, err := runOutputIn(root, "go", cmd...); err != nil {
		return "", fmt.Errorf("build isthmus: %w", err)
	}
	return bin, nil
}
