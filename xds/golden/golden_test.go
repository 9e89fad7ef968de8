package golden

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestLineDiffShowsChangesWithContext(t *testing.T) {
	want := "a\nb\nc\nd\ne\nf\ng\n"
	got := "a\nb\nc\nD\ne\nf\ng\n"
	diff := LineDiff(want, got)
	if !strings.Contains(diff, "- d\n") || !strings.Contains(diff, "+ D\n") || !strings.Contains(diff, "  c\n") || strings.Contains(diff, "  a\n") {
		t.Errorf("diff:\n%s", diff)
	}
}

// errorRecorder is a test that records its failures instead of failing.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Helper() {}
func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestCompareWritesThenChecks(t *testing.T) {
	file := filepath.Join(t.TempDir(), "out.yaml")
	missing := &errorRecorder{TB: t}
	Compare(missing, file, []byte("x: 1\n"), false)
	if len(missing.errors) != 1 || !strings.Contains(missing.errors[0], "-update") {
		t.Errorf("a missing golden file gave %q", missing.errors)
	}
	Compare(t, file, []byte("x: 1\n"), true)
	Compare(t, file, []byte("x: 1\n"), false)
	changed := &errorRecorder{TB: t}
	Compare(changed, file, []byte("x: 2\n"), false)
	if len(changed.errors) != 1 || !strings.Contains(changed.errors[0], "- x: 1\n") || !strings.Contains(changed.errors[0], "+ x: 2\n") {
		t.Errorf("a changed output gave %q", changed.errors)
	}
}
