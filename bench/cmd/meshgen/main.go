// Command meshgen writes a synthetic Istio mesh (ServiceEntries, endpoints,
// DestinationRules, VirtualServices, Sidecars) into a directory, for
// `isthmus serve --config-dir` and the xdsload benchmark.
//
//	go run ./bench/cmd/meshgen --out /tmp/mesh --services 1000 --namespaces 100
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("meshgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write the mesh into (must be empty or absent)")
	spec := meshgen.DefaultSpec()
	spec.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" {
		fmt.Fprintln(stderr, "meshgen: --out is required")
		return 2
	}
	if err := checkEmpty(*out); err != nil {
		fmt.Fprintf(stderr, "meshgen: %v\n", err)
		return 1
	}
	if err := meshgen.Write(*out, spec); err != nil {
		fmt.Fprintf(stderr, "meshgen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %d services in %d namespaces to %s\n", spec.Services, spec.Namespaces, *out)
	return 0
}

func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty; choose a new directory", dir)
	}
	return nil
}
