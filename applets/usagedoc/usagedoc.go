// Package usagedoc is for the applets' tests: it checks that an applet's
// doc comment shows its -h text verbatim, so the two cannot drift apart
// (STYLE.md: one source for the doc comment and -h).
package usagedoc

import (
	"os"
	"strings"
	"testing"
)

// Check fails t unless the comment that opens file (the package or file
// doc, up to the first line that is not a comment) holds usage verbatim as
// a code block: each line of usage as "//\t<line>", an empty line as "//".
// On failure it prints the block to paste.
func Check(t testing.TB, file, usage string) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for _, l := range strings.SplitAfter(string(src), "\n") {
		if !strings.HasPrefix(l, "//") {
			if doc.Len() > 0 {
				break
			}
			continue
		}
		doc.WriteString(l)
	}
	want := Block(usage)
	if !strings.Contains(doc.String(), want) {
		t.Errorf("the doc comment of %s does not show the -h text verbatim; paste this block into it:\n%s", file, want)
	}
}

// Block is usage as doc comment lines.
func Block(usage string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(usage, "\n"), "\n") {
		if l == "" {
			b.WriteString("//\n")
		} else {
			b.WriteString("//\t" + l + "\n")
		}
	}
	return b.String()
}
