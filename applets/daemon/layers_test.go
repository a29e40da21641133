package daemon

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The daemon's packages in layers (wire.go): a package may import only
// packages of a lower layer, and only the server, the RUN's validation
// (runreq) and the root speak the
// wire (core/sock, core/proto). Go rejects cycles by itself; this rejects
// the edges that point up or sideways, such as the supervisor importing
// the server or a socket package.
var layers = map[string]int{
	"applets/daemon/job":              0,
	"applets/daemon/pressure":         0,
	"applets/daemon/metrics/promtest": 0, // test support: prometheus checks
	"applets/daemon/hosttest":         0, // test support: the host's cgroup2 mount, files
	"applets/daemon/jobid":            0,
	"applets/daemon/retain":           0,
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
	"applets/daemon/runreq":           5, // a RUN's validation: it reads the request
	"applets/daemon/server":           6,
	"applets/daemon":                  7,
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
			if imp == w && self < layers["applets/daemon/runreq"] {
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

// layerLine is a layer as the documents write it: "layer N: a, b, c".
var layerLine = regexp.MustCompile(`layer (\d+): ([a-z]+(?:, [a-z]+)*)`)

// docLayers reads the layers a document lists, by package name relative
// to applets/daemon ("daemon" for the root package).
func docLayers(text string) (map[string]int, []string) {
	got := map[string]int{}
	var dup []string
	for _, m := range layerLine.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		for _, name := range strings.Split(m[2], ", ") {
			if _, ok := got[name]; ok {
				dup = append(dup, name)
			}
			got[name] = n
		}
	}
	return got, dup
}

// testSupport are the packages only tests import: not in the documents.
var testSupport = map[string]bool{"applets/daemon/metrics/promtest": true, "applets/daemon/hosttest": true}

// layerDiffs lists where a document's layers disagree with the table
// (test support packages aside).
func layerDiffs(got map[string]int) []string {
	var bad []string
	want := map[string]int{}
	for pkg, n := range layers {
		if testSupport[pkg] {
			continue
		}
		name := strings.TrimPrefix(pkg, "applets/daemon/")
		if pkg == "applets/daemon" {
			name = "daemon"
		}
		want[name] = n
		if g, ok := got[name]; !ok {
			bad = append(bad, name+": missing")
		} else if g != n {
			bad = append(bad, fmt.Sprintf("%s: layer %d, layers_test.go says %d", name, g, n))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			bad = append(bad, name+": not a package of the table")
		}
	}
	sort.Strings(bad)
	return bad
}

// TestLayerDocs: the layer lists of wire.go, DESIGN.md and the README say
// what the table above says.
func TestLayerDocs(t *testing.T) {
	for _, doc := range []string{"wire.go", "DESIGN.md", "../../README.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		got, dup := docLayers(string(b))
		for _, d := range dup {
			t.Errorf("%s: %s is listed twice", doc, d)
		}
		for _, d := range layerDiffs(got) {
			t.Errorf("%s: %s", doc, d)
		}
	}
	// The check itself: a package left out or put in another layer is caught.
	got, _ := docLayers("layer 0: job, jobid, pressure\nlayer 1: journal, hub")
	if d := layerDiffs(got); len(d) == 0 || !strings.Contains(strings.Join(d, " "), "logstore: missing") {
		t.Errorf("a list without logstore passes: %v", d)
	}
	got["server"] = 4
	if d := strings.Join(layerDiffs(got), " "); !strings.Contains(d, "server: layer 4, layers_test.go says 6") {
		t.Errorf("server in layer 4 passes: %v", d)
	}
}
