package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/isthmus-mesh/isthmus/policy"
)

const validateUsage = `Usage: isthmus validate PATH...

Checks Istio configuration files and directories (searched recursively for
*.yaml and *.yml) as "isthmus serve" would load them: decoding, Istio's
validation rules, duplicate objects and subset references. Prints one line
per problem and exits 1 if there is any; otherwise prints a summary and
exits 0.
`

func runValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, validateUsage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, validateUsage)
		return 0
	}
	cfg, problems := policy.LoadPaths(args)
	for _, p := range problems {
		fmt.Fprintln(stdout, problemLine(p))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "isthmus validate: %d problem(s)\n", len(problems))
		return 1
	}
	fmt.Fprintf(stdout, "OK: %s\n", summarize(cfg))
	return 0
}

// problemLine prints a problem, leaving out the document number when the
// problem is about a whole file or directory.
func problemLine(p *policy.ConfigError) string {
	if p.Source.Doc == 0 {
		return p.Source.File + ": " + p.Msg
	}
	return p.Error()
}

// summarize counts objects by kind: "3 objects (1 Gateway, 2 VirtualService)".
func summarize(cfg *policy.Config) string {
	counts := map[policy.Kind]int{}
	for _, o := range cfg.Objects() {
		counts[o.Kind]++
	}
	parts := make([]string, 0, len(counts))
	for kind, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, kind))
	}
	sort.Strings(parts)
	sort.SliceStable(parts, func(i, j int) bool { return kindOf(parts[i]) < kindOf(parts[j]) })
	if len(parts) == 0 {
		return "0 objects"
	}
	return fmt.Sprintf("%d objects (%s)", cfg.Len(), strings.Join(parts, ", "))
}

func kindOf(countAndKind string) string {
	_, kind, _ := strings.Cut(countAndKind, " ")
	return kind
}
