// Command cgroupbox is the cgroupd multicall binary.
//
//	usage: cgroupbox APPLET [args]     run an applet by name
//	       APPLET [args]               (when started through a link named APPLET)
//	       cgroupbox --install DIR     make a relative symlink per applet in DIR
//	       cgroupbox --version | -V    print version, commit and os/arch
//	       cgroupbox -h | --help       this text and the applets
//
// The applet is chosen by the name the binary was started under
// (basename of argv[0], never resolving symlinks), else by argv[1]
// (aliases: daemon for cgroupd, ctl for cgroupctl). Every applet also
// answers --version and -V as its first argument. With no match it prints
// one line naming the sorted applets on stderr and exits 2.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"cgroupctl": {run: runCtl},
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
	if f := strings.Fields(versionLine("cgroupd")); len(f) >= 4 {
		daemon.Version = f[1] + "+" + f[3]
	}
	return daemon.Run(args, stdin, stdout, stderr)
}

// runCtl is the cgroupctl applet; its --version is the binary's.
func runCtl(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctl.VersionLine = func() string { return versionLine("cgroupctl") }
	return ctl.Run(args, stdin, stdout, stderr)
}

// usage is the dispatcher's -h text (the doc comment shows it verbatim);
// -h appends the applet list.
const usage = `usage: cgroupbox APPLET [args]     run an applet by name
       APPLET [args]               (when started through a link named APPLET)
       cgroupbox --install DIR     make a relative symlink per applet in DIR
       cgroupbox --version | -V    print version, commit and os/arch
       cgroupbox -h | --help       this text and the applets
`

func dispatch(argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(argv) > 0 {
		name := filepath.Base(argv[0])
		if a, ok := applets[name]; ok {
			return runApplet(name, a, argv[1:], stdin, stdout, stderr)
		}
	}
	if len(argv) < 2 {
		return usageError(stderr, "no applet given; applets: "+strings.Join(names(), " "))
	}
	name := argv[1]
	if full, ok := aliases[name]; ok {
		name = full
	}
	if a, ok := applets[name]; ok {
		return runApplet(name, a, argv[2:], stdin, stdout, stderr)
	}
	switch name {
	case "--version", "-V":
		fmt.Fprintln(stdout, versionLine("cgroupbox"))
		return 0
	case "-h", "--help", "-help":
		io.WriteString(stdout, usage)
		fmt.Fprintf(stdout, "applets: %s (aliases: ctl, daemon)\n", strings.Join(names(), " "))
		return 0
	case "--install":
		if len(argv) != 3 {
			return usageError(stderr, "--install: want one directory")
		}
		if err := install(argv[2], stdout); err != nil {
			fmt.Fprintf(stderr, "cgroupbox: --install: %v\n", err)
			return 1
		}
		return 0
	}
	what := "applet"
	if strings.HasPrefix(name, "-") {
		what = "option"
	}
	return usageError(stderr, fmt.Sprintf("unknown %s %q; applets: %s", what, name, strings.Join(names(), " ")))
}

// usageError prints one line, the message and the pointer to -h, and
// returns the usage exit status.
func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "cgroupbox: %s (see cgroupbox -h)\n", msg)
	return 2
}

// runApplet runs a; a visible applet answers --version or -V as its first
// argument with the version line under its own name.
func runApplet(name string, a applet, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if !a.hidden && len(args) > 0 && (args[0] == "--version" || args[0] == "-V") {
		fmt.Fprintln(stdout, versionLine(name))
		return 0
	}
	return a.run(args, stdin, stdout, stderr)
}

// version and commit are set at link time by make
// (-ldflags '-X main.version=... -X main.commit=...'); a plain `go build`
// leaves them empty and versionLine falls back to the build info.
var version, commit string

// versionLine is `PROG VERSION commit COMMIT linux/ARCH GOVERSION`;
// what neither the linker flags nor the build info know is "unknown".
func versionLine(prog string) string {
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
	return fmt.Sprintf("%s %s commit %s %s/%s %s", prog, v, c, runtime.GOOS, arch, runtime.Version())
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

// install makes a symlink per visible applet in dir pointing at this
// binary, relative (`cgroupd -> cgroupbox` beside it, else the path from
// dir's real location), and prints one line per link on out. An existing
// symlink is replaced; any other file stops it before a link is made.
func install(dir string, out io.Writer) error {
	self, err := os.Executable() // /proc/self/exe: symlinks resolved
	if err != nil {
		return err
	}
	real, err := filepath.Abs(dir)
	if err == nil {
		real, err = filepath.EvalSymlinks(real)
	}
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	target, err := filepath.Rel(real, self)
	if err != nil {
		return err
	}
	old := map[string]string{}
	for _, n := range names() {
		p := filepath.Join(dir, n)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("%s exists and is not a symlink; nothing linked", p)
		}
		if old[n], err = os.Readlink(p); err != nil {
			return err
		}
	}
	for _, n := range names() {
		p := filepath.Join(dir, n)
		was, replaced := old[n]
		if replaced {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
		if err := os.Symlink(target, p); err != nil {
			return err
		}
		switch {
		case !replaced:
			fmt.Fprintf(out, "%s -> %s\n", p, target)
		case was == target:
			fmt.Fprintf(out, "%s -> %s (was already)\n", p, target)
		default:
			fmt.Fprintf(out, "%s -> %s (was -> %s)\n", p, target, was)
		}
	}
	return nil
}
