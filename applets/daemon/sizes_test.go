package daemon

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// DESIGN.md: no type has more than 40 methods, counting those promoted
// from its embedded fields, and no package more than 2 500 lines of
// non-test code; a part that grows past that is split along its state.
const (
	maxMethods      = 40
	maxPackageLines = 2500
)

// typeRef names a type: its package (module-relative) and name.
type typeRef struct{ pkg, name string }

func (r typeRef) String() string { return r.pkg + "." + r.name }

// typeInfo is what the size test needs of a type: its own methods, the
// types it embeds, or the type it is an alias of.
type typeInfo struct {
	methods map[string]bool
	embeds  []typeRef
	alias   *typeRef
}

// TestPartSizes holds every package of the daemon to those bounds.
func TestPartSizes(t *testing.T) {
	types, lines := scanTypes(t, ".")
	for pkg, n := range lines {
		if n > maxPackageLines {
			t.Errorf("%s: %d lines of non-test code, more than %d: split it along its state", pkg, n, maxPackageLines)
		}
	}
	var names []typeRef
	for r := range types {
		names = append(names, r)
	}
	sort.Slice(names, func(a, b int) bool { return names[a].String() < names[b].String() })
	for _, r := range names {
		if n := len(methodSet(types, r, 0)); n > maxMethods {
			t.Errorf("%s has %d methods (its own and promoted), more than %d", r, n, maxMethods)
		}
	}
	// The check itself: a method promoted through an embedded field, or
	// through an alias, counts.
	fake := map[typeRef]*typeInfo{
		{"p", "Inner"}: {methods: map[string]bool{"A": true, "B": true}},
		{"p", "alias"}: {alias: &typeRef{"p", "Inner"}},
		{"q", "Outer"}: {methods: map[string]bool{"B": true, "C": true}, embeds: []typeRef{{"p", "alias"}}},
	}
	if n := len(methodSet(fake, typeRef{"q", "Outer"}, 0)); n != 3 {
		t.Errorf("Outer embedding an alias of Inner: counted %d methods, want 3 (A, B, C)", n)
	}
}

// methodSet is the names of r's methods, its own and those promoted from
// its embedded fields (types outside applets/daemon promote none here).
func methodSet(types map[typeRef]*typeInfo, r typeRef, depth int) map[string]bool {
	ti := types[r]
	if ti == nil || depth > 8 {
		return nil
	}
	if ti.alias != nil {
		return methodSet(types, *ti.alias, depth+1)
	}
	set := map[string]bool{}
	for m := range ti.methods {
		set[m] = true
	}
	for _, e := range ti.embeds {
		for m := range methodSet(types, e, depth+1) {
			set[m] = true
		}
	}
	return set
}

// scanTypes reads the non-test files of every package under dir: each
// type's methods, embedded fields and alias, and each package's lines.
func scanTypes(t *testing.T, dir string) (map[typeRef]*typeInfo, map[string]int) {
	t.Helper()
	types := map[typeRef]*typeInfo{}
	lines := map[string]int{}
	info := func(r typeRef) *typeInfo {
		if types[r] == nil {
			types[r] = &typeInfo{methods: map[string]bool{}}
		}
		return types[r]
	}
	fset := token.NewFileSet()
	for pkg, files := range sourceFiles(t, dir) {
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines[pkg] += strings.Count(string(src), "\n")
			f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			imports := map[string]string{} // local name → module-relative path
			for _, is := range f.Imports {
				p, _ := strconv.Unquote(is.Path.Value)
				name := p[strings.LastIndex(p, "/")+1:]
				if is.Name != nil {
					name = is.Name.Name
				}
				imports[name] = strings.TrimPrefix(p, "cgroupd/")
			}
			ref := func(e ast.Expr) (typeRef, bool) {
				switch x := baseType(e).(type) {
				case *ast.Ident:
					return typeRef{pkg, x.Name}, true
				case *ast.SelectorExpr:
					if id, ok := x.X.(*ast.Ident); ok && imports[id.Name] != "" {
						return typeRef{imports[id.Name], x.Sel.Name}, true
					}
				}
				return typeRef{}, false
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv != nil && len(d.Recv.List) == 1 {
						info(typeRef{pkg, recvName(d.Recv.List[0].Type)}).methods[d.Name.Name] = true
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						ts, ok := s.(*ast.TypeSpec)
						if !ok {
							continue
						}
						ti := info(typeRef{pkg, ts.Name.Name})
						if ts.Assign.IsValid() {
							if r, ok := ref(ts.Type); ok {
								ti.alias = &r
							}
							continue
						}
						var fields []*ast.Field
						switch st := ts.Type.(type) {
						case *ast.StructType:
							fields = st.Fields.List
						case *ast.InterfaceType:
							fields = st.Methods.List
						}
						for _, fl := range fields {
							if len(fl.Names) == 0 {
								if r, ok := ref(fl.Type); ok {
									ti.embeds = append(ti.embeds, r)
								}
							}
						}
					}
				}
			}
		}
	}
	return types, lines
}

// recvName is a receiver's type name, without * and type parameters.
func recvName(e ast.Expr) string {
	if id, ok := baseType(e).(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

// baseType is a type expression without * and type parameters.
func baseType(e ast.Expr) ast.Expr {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		default:
			return e
		}
	}
}
