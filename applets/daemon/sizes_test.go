package daemon

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
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
	for pkg := range layers {
		dir, _ := strings.CutPrefix(pkg, "applets/daemon")
		dir = filepath.Join(".", dir)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		lines := 0
		methods := map[string]int{}
		fset := token.NewFileSet()
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			lines += strings.Count(string(src), "\n")
			f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
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
