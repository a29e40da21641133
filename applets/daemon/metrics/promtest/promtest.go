// Package promtest is for tests of the Prometheus exposition: promtool's
// check of a text and a parse of its samples (the metrics package's unit
// tests and the daemon's host tests both use them).
package promtest

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Check runs `promtool check metrics` on text. promtool comes with the
// Debian package prometheus (.ci/run installs it): outside CI a machine
// without it skips, under CI=true that is a failure.
func Check(t testing.TB, what string, text []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found under CI=true (Debian package prometheus; .ci/run installs it): %v", err)
		}
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s\ninput:\n%s", what, err, out, text)
	}
}

// Series parses exposition text into "name{labels}" → value, checking
// that every sample's family has HELP and TYPE lines before it.
func Series(t testing.TB, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	typed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			typed[f[2]] = true
			continue
		}
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			t.Fatalf("bad sample line %q", l)
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in %q: %v", l, err)
		}
		key := l[:i]
		name, _, _ := strings.Cut(key, "{")
		if !typed[name] {
			t.Errorf("sample %q before its TYPE line", l)
		}
		if _, dup := out[key]; dup {
			t.Errorf("duplicate series %q", key)
		}
		out[key] = v
	}
	return out
}
