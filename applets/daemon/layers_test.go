package daemon

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The daemon's packages in layers (wire.go): a package may import only
// packages of a lower layer, and only the server and the root speak the
// wire (core/sock, core/proto). Go rejects cycles by itself; this rejects
// the edges that point up or sideways, such as the supervisor importing
// the server or a socket package.
var layers = map[string]int{
	"applets/daemon/job":              0,
	"applets/daemon/pressure":         0,
	"applets/daemon/metrics/promtest": 0, // test support: prometheus checks
	"applets/daemon/jobid":            0,
	"applets/daemon/journal":          1,
	"applets/daemon/logstore":         1,
	"applets/daemon/hub":              1,
	"applets/daemon/budget":           1,
	"applets/daemon/handoff":          2, // carries the hub's ring
	"applets/daemon/spawner":          1,
	"applets/daemon/killfb":           1,
	"applets/daemon/protect":          1,
	"applets/daemon/guard":            2,
	"applets/daemon/supervisor":       3,
	"applets/daemon/metrics":          4,
	"applets/daemon/top":              4,
	"applets/daemon/server":           5,
	"applets/daemon":                  6,
}

// wire are the packages of the protocol and the socket.
var wire = []string{"core/sock", "core/proto"}

// layerViolations lists the imports of pkg (module-relative paths) that
// break the layers.
func layerViolations(pkg string, imports []string) []string {
	var bad []string
	self, known := layers[pkg]
	if !known {
		return []string{pkg + ": not in the layer table (layers_test.go)"}
	}
	for _, imp := range imports {
		if l, ok := layers[imp]; ok && l >= self {
			bad = append(bad, fmt.Sprintf("%s (layer %d) imports %s (layer %d)", pkg, self, imp, l))
		}
		for _, w := range wire {
			if imp == w && self < layers["applets/daemon/server"] {
				bad = append(bad, fmt.Sprintf("%s imports %s: only the server and the root speak the wire", pkg, imp))
			}
		}
	}
	return bad
}

// sourceFiles are the non-test .go files under dir, by package
// (module-relative path).
func sourceFiles(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		pkg := "applets/daemon"
		if rel := filepath.Dir(path); rel != "." {
			pkg += "/" + filepath.ToSlash(rel)
		}
		out[pkg] = append(out[pkg], path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// packageImports are the module-relative imports of the non-test files
// of each package under dir.
func packageImports(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	for pkg, files := range sourceFiles(t, dir) {
		out[pkg] = nil
		for _, path := range files {
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, is := range f.Imports {
				p, _ := strconv.Unquote(is.Path.Value)
				if r, ok := strings.CutPrefix(p, "cgroupd/"); ok {
					out[pkg] = append(out[pkg], r)
				}
			}
		}
	}
	return out
}

func TestLayers(t *testing.T) {
	pkgs := packageImports(t, ".")
	if len(pkgs) < len(layers) {
		t.Fatalf("found %d packages, the table has %d", len(pkgs), len(layers))
	}
	var names []string
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		for _, v := range layerViolations(p, pkgs[p]) {
			t.Error(v)
		}
	}
	// The check itself: the edges the layers forbid are caught.
	for _, tc := range []struct{ pkg, imp string }{
		{"applets/daemon/supervisor", "applets/daemon/server"},
		{"applets/daemon/supervisor", "core/sock"},
		{"applets/daemon/job", "applets/daemon/journal"},
		{"applets/daemon/hub", "applets/daemon/logstore"},
		{"applets/daemon/metrics", "core/proto"},
		{"applets/daemon/server", "applets/daemon"},
	} {
		if len(layerViolations(tc.pkg, []string{tc.imp})) == 0 {
			t.Errorf("%s importing %s passes the check, want a violation", tc.pkg, tc.imp)
		}
	}
}
