package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/isthmus-mesh/isthmus/policy"
)

const validateUsage = `Usage: isthmus validate [--max-file-size SIZE] [--max-document-size SIZE] PATH...

Checks Istio configuration files and directories (searched recursively for
*.yaml and *.yml) as "isthmus serve" would load them: decoding, Istio's
validation rules, duplicate objects and subset references, and the size
caps (give the same --max-file-size and --max-document-size as to serve;
defaults 16MiB and 4MiB). Prints one line per problem and exits 1 if there
is any; otherwise prints a summary and exits 0.
`

func runValidate(args []string, stdout, stderr io.Writer) int {
	limits, paths, err := parseValidateFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, validateUsage)
		return 0
	}
	if err != nil || len(paths) == 0 {
		if err != nil {
			fmt.Fprintf(stderr, "isthmus validate: %v\n", err)
		}
		fmt.Fprint(stderr, validateUsage)
		return 2
	}
	cfg, problems := policy.LoadPathsWith(paths, limits)
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

// parseValidateFlags reads the size caps given before the paths.
func parseValidateFlags(args []string) (policy.Limits, []string, error) {
	maxFile, maxDocument := sizeFlag(policy.DefaultMaxFileBytes), sizeFlag(policy.DefaultMaxDocumentBytes)
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&maxFile, "max-file-size", "largest configuration file read")
	fs.Var(&maxDocument, "max-document-size", "largest YAML document decoded")
	if err := fs.Parse(args); err != nil {
		return policy.Limits{}, nil, err
	}
	return policy.Limits{MaxFileBytes: int64(maxFile), MaxDocumentBytes: int64(maxDocument)}, fs.Args(), nil
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
