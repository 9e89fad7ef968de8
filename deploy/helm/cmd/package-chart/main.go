// Command package-chart writes Isthmus's Helm chart, with Istio's CRDs
// added (see package helm), as a .tgz: `make chart`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/isthmus-mesh/isthmus/deploy/helm"
)

func main() {
	src := flag.String("chart", "deploy/helm/isthmus", "chart `DIR`")
	out := flag.String("out", "bin", "`DIR` the .tgz is written to")
	flag.Parse()
	path, err := run(*src, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "package-chart: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

func run(src, out string) (string, error) {
	staged, err := os.MkdirTemp("", "isthmus-chart-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staged)
	if err := helm.Stage(src, staged+"/isthmus"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	return helm.Package(staged+"/isthmus", out)
}
