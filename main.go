// Command cgroupbox is the cgroupd multicall binary.
//
//	cgroupbox APPLET [args]     run an applet by name
//	APPLET [args]               (when started through a link named APPLET)
//	cgroupbox --install DIR     make a symlink per applet in DIR
//	cgroupbox --version | -V    print version, commit and os/arch
//
// The applet is chosen by the name the binary was started under
// (basename of argv[0], never resolving symlinks), else by argv[1]. With no
// match it prints the sorted applet list on stderr and exits 2.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"cgroupd/applets/bench"
	"cgroupd/applets/ctl"
	"cgroupd/applets/daemon"
	"cgroupd/core/spawn"
	"cgroupd/hogs"
)

// runFunc is the entry point of an applet; only main calls os.Exit.
type runFunc func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

type applet struct {
	run    runFunc
	hidden bool // internal: not listed, not linked by --install
}

var applets = map[string]applet{
	"cgroupd":   {run: runDaemon},
	"cgroupctl": {run: ctl.Run},
	"memhog":    {run: hogs.Memhog},
	"cpuhog":    {run: hogs.Cpuhog},
	// The fork-and-attach spawn fallback re-executes this binary as this
	// applet; it waits to be released, then execs the job.
	spawn.HelperApplet: {run: spawn.HelperMain, hidden: true},
	// Load generator for `make bench`: speaks the real protocol.
	"cgroupbench": {run: bench.Run, hidden: true},
}

// aliases are accepted as argv[1] only.
var aliases = map[string]string{"daemon": "cgroupd", "ctl": "cgroupctl"}

func names() []string {
	var out []string
	for n, a := range applets {
		if !a.hidden {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func main() {
	os.Exit(dispatch(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// runDaemon is the cgroupd applet. The daemon reports its version across
// an upgrade: VERSION+COMMIT. Worked out here, not in main: reading the
// build info costs every short-lived applet (cgroupctl) page faults and
// allocations for a string only the daemon uses.
func runDaemon(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if f := strings.Fields(versionLine()); len(f) >= 4 {
		daemon.Version = f[1] + "+" + f[3]
	}
	return daemon.Run(args, stdin, stdout, stderr)
}

func dispatch(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(argv) > 0 {
		if a, ok := applets[filepath.Base(argv[0])]; ok {
			return a.run(argv[1:], stdin, stdout, stderr)
		}
	}
	if len(argv) > 1 {
		name := argv[1]
		if full, ok := aliases[name]; ok {
			name = full
		}
		if a, ok := applets[name]; ok {
			return a.run(argv[2:], stdin, stdout, stderr)
		}
		if name == "--version" || name == "-V" {
			fmt.Fprintln(stdout, versionLine())
			return 0
		}
		if name == "--install" {
			if len(argv) != 3 {
				fmt.Fprintln(stderr, "usage: cgroupbox --install DIR")
				return 2
			}
			if err := install(argv[2]); err != nil {
				fmt.Fprintf(stderr, "cgroupbox: %v\n", err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintln(stderr, "usage: cgroupbox APPLET [args] | cgroupbox --install DIR | cgroupbox --version")
	fmt.Fprintln(stderr, "applets:")
	for _, n := range names() {
		fmt.Fprintf(stderr, "  %s\n", n)
	}
	return 2
}

// version and commit are set at link time by make
// (-ldflags '-X main.version=... -X main.commit=...'); a plain `go build`
// leaves them empty and versionLine falls back to the build info.
var version, commit string

// versionLine is `cgroupbox VERSION commit COMMIT linux/ARCH GOVERSION`;
// what neither the linker flags nor the build info know is "unknown".
func versionLine() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if c == "" {
			var rev, dirty string
			for _, s := range bi.Settings {
				switch {
				case s.Key == "vcs.revision" && len(s.Value) >= 12:
					rev = s.Value[:12]
				case s.Key == "vcs.modified" && s.Value == "true":
					dirty = "-dirty"
				}
			}
			if rev != "" {
				c = rev + dirty
			}
		}
	}
	if v == "" {
		v = "unknown"
	}
	if c == "" {
		c = "unknown"
	}
	arch := runtime.GOARCH
	if arch == "arm" {
		if goarm := buildSetting("GOARM"); goarm != "" {
			arch += "v" + goarm
		}
	}
	return fmt.Sprintf("cgroupbox %s commit %s %s/%s %s", v, c, runtime.GOOS, arch, runtime.Version())
}

// buildSetting returns the build info setting key ("" when unknown).
func buildSetting(key string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}

// install makes a symlink per visible applet in dir, pointing at this
// binary. An existing link is replaced; any other file is left alone.
func install(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, n := range names() {
		p := filepath.Join(dir, n)
		if fi, err := os.Lstat(p); err == nil {
			if fi.Mode()&os.ModeSymlink == 0 {
				return fmt.Errorf("%s exists and is not a symlink", p)
			}
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		if err := os.Symlink(self, p); err != nil {
			return err
		}
	}
	return nil
}
