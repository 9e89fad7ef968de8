package configdiff

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Key names one resource of a dump.
type Key struct {
	Kind string // "listener", "route", "cluster" or "endpoint"
	Name string
}

func (k Key) String() string { return k.Kind + " " + k.Name }

// Resources are the comparable resources of one dump, rendered as indented
// JSON with sorted keys.
type Resources map[Key]string

// Entry is one resource that is not the same on both sides.
type Entry struct {
	Key
	Served string // "" when Isthmus does not serve it
	Envoy  string // "" when Envoy does not hold it
}

// Result is the outcome of a comparison.
type Result struct {
	Same    int     // resources equal on both sides
	Entries []Entry // the others, sorted by kind and name
}

// IgnoredFields are the fields, anywhere in a resource, that Envoy fills
// in itself and that are not compared.
var IgnoredFields = map[string]bool{
	"last_updated": true,
	"version_info": true,
}

// Compare parses both dumps and compares their resources.
func Compare(served, envoy []byte) (Result, error) {
	s, err := Parse(served)
	if err != nil {
		return Result{}, fmt.Errorf("served config dump: %w", err)
	}
	e, err := Parse(envoy)
	if err != nil {
		return Result{}, fmt.Errorf("Envoy config dump: %w", err)
	}
	return diff(s, e), nil
}

func diff(served, envoy Resources) Result {
	var res Result
	for _, k := range sortedKeys(served, envoy) {
		s, e := served[k], envoy[k]
		if s == e {
			res.Same++
			continue
		}
		res.Entries = append(res.Entries, Entry{Key: k, Served: s, Envoy: e})
	}
	return res
}

func sortedKeys(maps ...Resources) []Key {
	seen := map[Key]bool{}
	var keys []Key
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Kind != keys[j].Kind {
			return kindOrder(keys[i].Kind) < kindOrder(keys[j].Kind)
		}
		return keys[i].Name < keys[j].Name
	})
	return keys
}

func kindOrder(kind string) int {
	return strings.Index("listener route cluster endpoint", kind)
}

// Write prints r: each differing resource with a unified diff (--- isthmus,
// +++ envoy), then a summary line.
func Write(w io.Writer, r Result) error {
	for _, e := range r.Entries {
		if err := writeEntry(w, e); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d resources identical, %d differ\n", r.Same, len(r.Entries))
	return err
}

func writeEntry(w io.Writer, e Entry) error {
	switch {
	case e.Envoy == "":
		_, err := fmt.Fprintf(w, "%s: served by Isthmus, missing in Envoy\n", e.Key)
		return err
	case e.Served == "":
		_, err := fmt.Fprintf(w, "%s: in Envoy, not served by Isthmus\n", e.Key)
		return err
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(e.Served + "\n"), B: difflib.SplitLines(e.Envoy + "\n"),
		FromFile: "isthmus", ToFile: "envoy", Context: 2,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s: differs\n%s", e.Key, indent(text))
	return err
}

func indent(text string) string {
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}
