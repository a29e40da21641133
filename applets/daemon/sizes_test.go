package daemon

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// DESIGN.md: no type has more than 40 methods and no package more than
// 2 500 lines of non-test code; a part that grows past that is split
// along its state.
const (
	maxMethods      = 40
	maxPackageLines = 2500
)

// TestPartSizes holds every package of the daemon to those bounds.
func TestPartSizes(t *testing.T) {
	fset := token.NewFileSet()
	for pkg, files := range sourceFiles(t, ".") {
		lines := 0
		methods := map[string]int{}
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines += strings.Count(string(src), "\n")
			f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil && len(fn.Recv.List) == 1 {
					methods[recvName(fn.Recv.List[0].Type)]++
				}
			}
		}
		if lines > maxPackageLines {
			t.Errorf("%s: %d lines of non-test code, more than %d: split it along its state", pkg, lines, maxPackageLines)
		}
		for typ, n := range methods {
			if n > maxMethods {
				t.Errorf("%s: type %s has %d methods, more than %d", pkg, typ, n, maxMethods)
			}
		}
	}
}

// recvName is a receiver's type name, without * and type parameters.
func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}
