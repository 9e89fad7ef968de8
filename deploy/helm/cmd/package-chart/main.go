// Command package-chart writes Isthmus's Helm chart, with Istio's CRDs
// added (see package helm), as a .tgz: `make chart`. Its appVersion, the
// default image tag, is the version `make image` tags the image with.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/isthmus-mesh/isthmus/deploy/helm"
)

func main() {
	src := flag.String("chart", "deploy/helm/isthmus", "chart `DIR`")
	out := flag.String("out", "bin", "`DIR` the .tgz is written to")
	appVersion := flag.String("app-version", "", "the chart's appVersion, the default image tag (default: git describe --tags --always --dirty, as make image)")
	flag.Parse()
	path, err := run(*src, *out, *appVersion)
	if err != nil {
		fmt.Fprintf(os.Stderr, "package-chart: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

func run(src, out, appVersion string) (string, error) {
	if appVersion == "" {
		appVersion = gitVersion()
	}
	staged, err := os.MkdirTemp("", "isthmus-chart-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staged)
	dir := filepath.Join(staged, filepath.Base(src))
	if err := helm.Stage(src, dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	return helm.Package(dir, out, appVersion)
}

// gitVersion is the image version make image uses; "" (the chart's own
// appVersion) outside a git work tree.
func gitVersion() string {
	version, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(version))
}
