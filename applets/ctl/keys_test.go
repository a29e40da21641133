package ctl

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"cgroupd/core/event"
)

// The key table (json.go) must know every key the daemon can send, in a
// reply or in an event line, so that --json types each one (issue 22
// item 6). daemonKeys finds them in the daemon's source, so a key added
// there without a type here fails this test.

var keyRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// daemonSource parses the daemon's non-test files.
func daemonSource(t *testing.T) []*ast.File {
	t.Helper()
	var files []*ast.File
	fset := token.NewFileSet()
	// Every package of the daemon: keys live where their part is.
	err := filepath.WalkDir("../daemon", func(name string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no daemon source in ../daemon: %v", err)
	}
	return files
}

func strLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

func callName(c *ast.CallExpr) string {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// daemonKeys returns the keys the daemon's source puts into replies and
// events (with where one was seen), and the event types it emits. A key is
// a string literal
//   - as the first argument of Add or AddInt (proto.Response);
//   - at a key position of a key, value list: the arguments after the
//     event of emit and emitJob (whose Type: "..." is an event type), after
//     the type of Line and event.Format, after the reason of refuse,
//     after kv in append(kv, ...), or in a []string{k, v, ...} literal
//     (one with values that are not all literals: a kv list, not a table);
//   - as "key=" of an event's key=value word (the pressure engine's
//     Explain);
//   - first of a {"key", value} pair in a function that calls Add with a
//     field for key (TOP's thresholds: tail.Add(th.key, ...)).
func daemonKeys(t *testing.T) (keys map[string]string, types []string) {
	keys = map[string]string{}
	add := func(e ast.Expr, where string) {
		if s, ok := strLit(e); ok && keyRe.MatchString(s) {
			if _, seen := keys[s]; !seen {
				keys[s] = where
			}
		}
	}
	kvList := func(args []ast.Expr, where string) {
		for i := 0; i < len(args); i += 2 {
			add(args[i], where)
		}
	}
	for _, f := range daemonSource(t) {
		file := f.Name.Name
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil || !addsFieldKey(fd.Body) {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if cl, ok := n.(*ast.CompositeLit); ok && cl.Type == nil && len(cl.Elts) == 2 {
					add(cl.Elts[0], "{key, value} table of "+fd.Name.Name)
				}
				return true
			})
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				name := callName(n)
				where := name + " in package " + file
				switch {
				case (name == "Add" || name == "AddInt") && len(n.Args) == 2:
					add(n.Args[0], where)
				case name == "emit" || name == "Line" || name == "refuse":
					if len(n.Args) > 0 {
						if typ, ok := strLit(n.Args[0]); ok && name == "Line" {
							types = append(types, typ)
						}
						kvList(n.Args[1:], where)
					}
				case name == "emitJob" || name == "Format":
					if len(n.Args) > 1 {
						if typ, ok := strLit(n.Args[0]); ok && name == "emitJob" {
							types = append(types, typ)
						}
						if typ, ok := strLit(n.Args[1]); ok && name == "Format" {
							types = append(types, typ)
						}
						kvList(n.Args[2:], where)
					}
				case name == "append" && len(n.Args) > 1:
					if id, ok := n.Args[0].(*ast.Ident); ok && id.Name == "kv" {
						kvList(n.Args[1:], where)
					}
				}
			case *ast.KeyValueExpr:
				// hub.Event{Type: "job.start", ...}: an event type.
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Type" {
					if typ, ok := strLit(n.Value); ok && (strings.Contains(typ, ".") || typ == "pressure") {
						types = append(types, typ)
					}
				}
			case *ast.CompositeLit:
				if at, ok := n.Type.(*ast.ArrayType); ok && len(n.Elts) >= 2 && len(n.Elts)%2 == 0 {
					if id, ok := at.Elt.(*ast.Ident); ok && id.Name == "string" {
						allLit, keysLit := true, true
						for i, e := range n.Elts {
							s, ok := strLit(e)
							allLit = allLit && ok
							if i%2 == 0 && (!ok || !keyRe.MatchString(s)) {
								keysLit = false
							}
						}
						if keysLit && !allLit {
							kvList(n.Elts, "[]string literal")
						}
					}
				}
			case *ast.BasicLit:
				if s, ok := strLit(n); ok {
					if k, _, found := strings.Cut(s, "="); found && keyRe.MatchString(k) {
						add(&ast.BasicLit{Kind: token.STRING, Value: strconv.Quote(k)}, "key=value word")
					}
				}
			}
			return true
		})
	}
	return keys, types
}

// addsFieldKey reports whether body calls Add(x.field, ...).
func addsFieldKey(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok && callName(c) == "Add" && len(c.Args) == 2 {
			_, sel := c.Args[0].(*ast.SelectorExpr)
			found = found || sel
		}
		return !found
	})
	return found
}

// notKeys are literals the rules above take for keys that no reply or
// event carries (the upgrade hand-off's own lines).
var notKeys = map[string]bool{}

func TestDaemonKeysTyped(t *testing.T) {
	keys, types := daemonKeys(t)
	if len(keys) < 80 {
		t.Fatalf("found only %d keys in the daemon's source: the rules of daemonKeys no longer match it", len(keys))
	}
	if testing.Verbose() {
		var all []string
		for k := range keys {
			all = append(all, k)
		}
		sort.Strings(all)
		t.Logf("%d keys: %s", len(all), strings.Join(all, " "))
	}
	var missing []string
	for k, where := range keys {
		if _, ok := jsonTypes[k]; !ok && !notKeys[k] {
			missing = append(missing, k+" ("+where+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("the daemon sends key %s: give it a type in jsonTypes (json.go)", m)
	}
	for _, typ := range types {
		if !event.IsType(typ) {
			t.Errorf("the daemon emits event type %q: add it to event.Types (core/event/types.go)", typ)
		}
	}
	if len(types) < 10 {
		t.Errorf("found only %d event types in the daemon's source", len(types))
	}
}
