package translate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readerFiles may touch an Index's snapshot and tables directly: the index
// files, whose methods record what they read, and the code that compares
// two snapshots for InheritFrom.
func readerFile(name string) bool {
	return strings.HasPrefix(name, "index") || name == "change.go" || name == "translator_inherit.go"
}

// Builders read the snapshot only through the Index's recording methods,
// so that what a change reaches is derived from what they read: no other
// file of the package selects the Index's snapshot or the tables derived
// from it.
func TestOnlyTheIndexReadsTheSnapshot(t *testing.T) {
	fields := map[string]bool{}
	typ := reflect.TypeFor[indexData]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; name != "base" {
			fields[name] = true
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || readerFile(name) {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && fields[sel.Sel.Name] && !isPackage(sel.X, "model") {
				t.Errorf("%s: reads the Index's %s directly; add a recording method to index_reads.go", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

func isPackage(x ast.Expr, name string) bool {
	id, ok := x.(*ast.Ident)
	return ok && id.Name == name
}
