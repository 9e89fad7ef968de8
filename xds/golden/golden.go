package golden

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Compare checks that file holds got; with update it writes got there
// instead.
func Compare(t testing.TB, file string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Errorf("%s: %v (run with -update to create it)", file, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", file, LineDiff(string(want), string(got)))
	}
}

// LineDiff shows how want became got, line by line ("-" removed, "+"
// added), with up to two lines of context around each change.
func LineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	var ops []diffOp
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		ops, a, b = append(ops, diffOp{' ', a[0]}), a[1:], b[1:]
	}
	var tail []diffOp
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		tail, a, b = append(tail, diffOp{' ', a[len(a)-1]}), a[:len(a)-1], b[:len(b)-1]
	}
	ops = append(ops, diffOps(a, b)...)
	for k := len(tail) - 1; k >= 0; k-- {
		ops = append(ops, tail[k])
	}
	var out strings.Builder
	for i, op := range ops {
		if op.kind == ' ' && !nearChange(ops, i, 2) {
			continue
		}
		fmt.Fprintf(&out, "%c %s\n", op.kind, op.line)
	}
	return out.String()
}

type diffOp struct {
	kind byte // ' ', '-' or '+'
	line string
}

// diffOps is the classic longest-common-subsequence edit script; for very
// long inputs it gives up and shows everything as replaced.
func diffOps(a, b []string) []diffOp {
	if len(a)*len(b) > 4_000_000 {
		var ops []diffOp
		for _, l := range a {
			ops = append(ops, diffOp{'-', l})
		}
		for _, l := range b {
			ops = append(ops, diffOp{'+', l})
		}
		return ops
	}
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, diffOp{'+', b[j]})
			j++
		default:
			ops = append(ops, diffOp{'-', a[i]})
			i++
		}
	}
	return ops
}

func nearChange(ops []diffOp, i, context int) bool {
	for k := max(0, i-context); k <= min(len(ops)-1, i+context); k++ {
		if ops[k].kind != ' ' {
			return true
		}
	}
	return false
}
