package ctl

import (
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"cgroupd/core/event"
	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// mode is how a response is read and what the exit status is.
type mode int

const (
	modePlain    mode = iota // print the response; exit by STATUS
	modeWait                 // … exit with the job's status
	modeStream               // print the raw bytes after an ok header block (LOGS, METRICS)
	modeAttach               // run --attach: stream the job's log, exit as wait (attach.go)
	modeRunWait              // run --wait: exit as wait (attach.go)
	modePipe                 // run --pipe: PIPE with our stdio, exit as wait (attach.go)
	modeTop                  // top: its own loop of TOP requests (top.go)
	modeQuitWait             // quit --wait: exit once the daemon has
)

// invocation is a parsed command line.
type invocation struct {
	socket string // "" until the default is resolved
	sub    string
	req    proto.Request
	wire   []byte // req encoded
	mode   mode
	out    output
	json   bool // --json, -o json: the response as one JSON object (json.go)
	// table: output for people (human.go), -o table or a terminal on
	// stdout; cols is the terminal's width (0: unknown), proc the procfs
	// root list reads a live job's owner and command from.
	table bool
	cols  int
	proc  string
	top   topInv
	stdio []int // run --pipe: our fds 0, 1, 2, sent with the request
}

// output is the format the command line asks for.
type output int

const (
	outAuto  output = iota // table when stdout is a terminal, else text
	outText                // the daemon's response as received (v1)
	outTable               // for people (human.go)
	outJSON                // one JSON object per response (json.go)
)

// subcommand describes one subcommand.
type subcommand struct {
	verb  string
	usage string
	// parse parses the subcommand's arguments; out is the output format
	// (--json, -o), which may also follow the subcommand.
	parse func(sc subcommand, args []string, out *output) (proto.Request, mode, error)
}

var subcommands map[string]subcommand

func init() {
	subcommands = map[string]subcommand{
		"run":     {"RUN", "usage: cgroupctl run [opts] [--] argv...\n" + runOptions, parseRun},
		"list":    {"LIST", "usage: cgroupctl list\n", parseNoArgs},
		"inspect": {"INSPECT", "usage: cgroupctl inspect ID\n", parseID},
		"stats":   {"STATS", "usage: cgroupctl stats\n", parseNoArgs},
		"freeze":  {"FREEZE", "usage: cgroupctl freeze ID\n", parseID},
		"thaw":    {"THAW", "usage: cgroupctl thaw ID\n", parseID},
		"kill": {"KILL", "usage: cgroupctl kill ID [N | signal N | --signal N | -s N], cgroupctl kill -s N ID\n" +
			"  N is a number or a name (HUP, TERM, SIGTERM); default: the daemon's (9)\n", parseKill},
		"wait": {"WAIT", "usage: cgroupctl wait ID\n  exit status: the job's, or 128+N when signal N ended it, or 255 when it is unknown\n" +
			"  (the job ended while no daemon was its parent: exit_known 0)\n", parseID},
		"logs": {"LOGS", "usage: cgroupctl logs ID [--follow|-f]\n  --follow: keep printing until the job has ended\n", parseLogs},
		"events": {"EVENTS", "usage: cgroupctl events [--follow|-f] [--id ID] [--type TYPE[,TYPE...]]\n" +
			"  the daemon's recent events (EVENT lines), then with --follow each new one;\n" +
			"  with --json one JSON object per event line (NDJSON)\n" +
			"  --type: job.start job.freeze job.thaw job.kill job.oom job.throttle job.exit\n" +
			"  job.cleanup job.adopt pressure daemon.upgrade cgroup.unknown cgroup.stray\n" +
			"  state.corrupt events.dropped client.drop (another type is refused: no daemon\n" +
			"  emits it)\n", parseEvents},
		"remove": {"REMOVE", "usage: cgroupctl remove ID\n", parseID},
		"ping":   {"PING", "usage: cgroupctl ping\n", parseNoArgs},
		"quit":   {"QUIT", "usage: cgroupctl quit [--wait|-w]\n  --wait, -w  return once the daemon has exited (its shutdown done)\n", parseQuit},
		"upgrade": {"UPGRADE", "usage: cgroupctl upgrade\n" +
			"  re-execute the daemon's binary from its path, keeping its pid, jobs and connections\n", parseNoArgs},
		"metrics": {"METRICS", "usage: cgroupctl metrics\n" +
			"  print the daemon's Prometheus text exposition (format 0.0.4), without a STATUS block\n", parseStream},
		"top": {"TOP", topUsage, nil}, // top.go
	}
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// parseArgs parses the whole command line (after the applet name).
func parseArgs(args []string) (invocation, error) {
	var inv invocation
	fs := flag.NewFlagSet("cgroupctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&inv.socket, "socket", "", "")
	fs.StringVar(&inv.socket, "s", "", "")
	var version bool
	fs.BoolVar(&version, "version", false, "")
	fs.BoolVar(&version, "V", false, "")
	outputFlags(fs, &inv.out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return inv, &helpRequest{usage}
		}
		return inv, usagef("%s", oneLine(err.Error()))
	}
	if version {
		return inv, &helpRequest{VersionLine() + "\n"}
	}
	socketSet := false
	fs.Visit(func(f *flag.Flag) { socketSet = socketSet || f.Name == "socket" || f.Name == "s" })
	if socketSet && inv.socket == "" {
		return inv, usagef("--socket: empty path")
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return inv, usagef("missing subcommand")
	}
	inv.sub = rest[0]
	if inv.sub == "help" {
		return inv, &helpRequest{usage}
	}
	sc, ok := subcommands[inv.sub]
	if !ok {
		return inv, usagef("unknown subcommand %q", oneLine(inv.sub))
	}
	var req proto.Request
	var m mode
	var err error
	if sc.parse == nil { // top: options of its own (top.go)
		var targs []string
		if targs, err = stripOutput(rest[1:], &inv.out); err == nil {
			inv.top, err = parseTop(targs)
		}
		if err == nil && inv.out == outJSON {
			err = usagef("--json is not supported: top draws a screen or tables (list --json and stats --json give its figures)")
		}
		m = modeTop
	} else {
		req, m, err = sc.parse(sc, rest[1:], &inv.out)
	}
	inv.json = inv.out == outJSON
	if err != nil {
		var uerr *usageError
		if errors.As(err, &uerr) {
			uerr.sub = inv.sub
		}
		return inv, err
	}
	req.Verb = sc.verb
	if m == modePipe {
		req.Verb = "PIPE" // RUN with our stdio (attach.go)
	}
	inv.req, inv.mode = req, m
	return inv, nil
}

// checkID refuses an id that starts with '-': it is an option that lost
// its way (`--id -h`, `--id -- cmd`), and an id nobody could name on a
// command line afterwards.
func checkID(what, id string) error {
	if strings.HasPrefix(id, "-") {
		return usagef("%s: %q is not an id (an id cannot start with '-')", what, oneLine(id))
	}
	return nil
}

// outputFlags registers --json, -o and --output (table, text or json) on fs.
func outputFlags(fs *flag.FlagSet, out *output) {
	fs.Var(jsonFlag{out}, "json", "")
	set := func(v string) error { return setOutput(v, out) }
	fs.Func("o", "", set)
	fs.Func("output", "", set)
}

// jsonFlag is --json: -o json as a boolean flag.
type jsonFlag struct{ out *output }

func (f jsonFlag) IsBoolFlag() bool { return true }
func (f jsonFlag) String() string   { return "" }
func (f jsonFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	switch {
	case err != nil:
		return err
	case b:
		*f.out = outJSON
	case *f.out == outJSON:
		*f.out = outAuto
	}
	return nil
}

// setOutput sets *out from an output format name.
func setOutput(v string, out *output) error {
	switch v {
	case "json":
		*out = outJSON
	case "text":
		*out = outText
	case "table":
		*out = outTable
	default:
		return errors.New("want table, text or json")
	}
	return nil
}

// outputOption consumes an output option at a[0] (see outputFlags) for the
// subcommands that take options after their name; it returns how many
// arguments it used, -1 when a[0] is no output option.
func outputOption(a []string, out *output) (int, error) {
	name, val, hasVal := strings.Cut(a[0], "=")
	switch name {
	case "--json", "-json":
		if hasVal {
			return 0, usagef("%s takes no value", name)
		}
		*out = outJSON
		return 1, nil
	case "-o", "--o", "-output", "--output":
	default:
		return -1, nil
	}
	n := 1
	if !hasVal {
		if len(a) < 2 {
			return 0, usagef("%s needs a value (table, text or json)", name)
		}
		val, n = a[1], 2
	}
	if err := setOutput(val, out); err != nil {
		return 0, usagef("%s: invalid output %q (want table, text or json)", name, oneLine(val))
	}
	return n, nil
}

// stripOutput removes the output options from args.
func stripOutput(args []string, out *output) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		n, err := outputOption(args[i:], out)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			rest = append(rest, args[i])
			continue
		}
		i += n - 1
	}
	return rest, nil
}

func parseNoArgs(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	args, err := stripOutput(args, out)
	if err != nil {
		return proto.Request{}, 0, err
	}
	for _, a := range args {
		if isHelp(a) {
			return proto.Request{}, 0, &helpRequest{sc.usage}
		}
	}
	if len(args) > 0 {
		return proto.Request{}, 0, usagef("unexpected argument %q", oneLine(args[0]))
	}
	return proto.Request{}, modePlain, nil
}

// positional splits args into positionals and options: "-h"/"--help"
// anywhere asks for help, "--" ends options, and opt reports how many
// arguments an option consumes (-1: unknown option).
func positional(sc subcommand, args []string, out *output, opt func(args []string) (int, error)) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(pos, args[i+1:]...), nil
		case isHelp(a):
			return nil, &helpRequest{sc.usage}
		case len(a) > 1 && a[0] == '-':
			n, err := outputOption(args[i:], out)
			if n < 0 && err == nil {
				n, err = opt(args[i:])
			}
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return nil, usagef("unknown option %q", oneLine(a))
			}
			i += n - 1
		default:
			pos = append(pos, a)
		}
	}
	return pos, nil
}

func noOptions([]string) (int, error) { return -1, nil }

// parseQuit is quit [--wait]: with --wait the command returns once the
// daemon's process has exited, not when it has begun its shutdown.
func parseQuit(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	m := modePlain
	pos, err := positional(sc, args, out, func(a []string) (int, error) {
		if a[0] == "--wait" || a[0] == "-w" {
			m = modeQuitWait
			return 1, nil
		}
		return -1, nil
	})
	if err != nil {
		return proto.Request{}, 0, err
	}
	if len(pos) > 0 {
		return proto.Request{}, 0, usagef("unexpected argument %q", oneLine(pos[0]))
	}
	return proto.Request{}, m, nil
}

func parseID(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	pos, err := positional(sc, args, out, noOptions)
	if err != nil {
		return proto.Request{}, 0, err
	}
	if len(pos) != 1 {
		return proto.Request{}, 0, usagef("want exactly one ID, got %d arguments", len(pos))
	}
	if err := checkID("ID", pos[0]); err != nil {
		return proto.Request{}, 0, err
	}
	m := modePlain
	if sc.verb == "WAIT" {
		m = modeWait
	}
	var req proto.Request
	return *req.Add("id", pos[0]), m, nil
}

func parseLogs(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	follow := false
	pos, err := positional(sc, args, out, func(a []string) (int, error) {
		if a[0] == "--follow" || a[0] == "-f" || a[0] == "-follow" {
			follow = true
			return 1, nil
		}
		return -1, nil
	})
	if err != nil {
		return proto.Request{}, 0, err
	}
	if len(pos) != 1 {
		return proto.Request{}, 0, usagef("want exactly one ID, got %d arguments", len(pos))
	}
	if err := checkID("ID", pos[0]); err != nil {
		return proto.Request{}, 0, err
	}
	var req proto.Request
	req.Add("id", pos[0])
	if follow {
		req.Add("follow", "1")
	}
	return req, modeStream, nil
}

// parseStream is a subcommand without arguments whose answer is raw bytes
// after its STATUS block (METRICS).
func parseStream(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	req, _, err := parseNoArgs(sc, args, out)
	return req, modeStream, err
}

func parseEvents(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	var req proto.Request
	seen := map[string]bool{}
	pos, err := positional(sc, args, out, func(a []string) (int, error) {
		switch a[0] {
		case "--follow", "-f", "-follow":
			if !seen["follow"] {
				req.Add("follow", "1")
			}
			seen["follow"] = true
			return 1, nil
		case "--id", "-id", "--type", "-type":
			key := strings.TrimLeft(a[0], "-")
			if len(a) < 2 || a[1] == "" {
				return 0, usagef("%s needs a value", a[0])
			}
			if seen[key] {
				return 0, usagef("%s given twice", a[0])
			}
			seen[key] = true
			var err error
			if key == "id" {
				err = checkID(a[0], a[1])
			} else {
				err = checkEventTypes(a[0], a[1])
			}
			if err != nil {
				return 0, err
			}
			req.Add(key, a[1])
			return 2, nil
		}
		return -1, nil
	})
	if err != nil {
		return proto.Request{}, 0, err
	}
	if len(pos) != 0 {
		return proto.Request{}, 0, usagef("unexpected argument %q", pos[0])
	}
	return req, modeStream, nil
}

// checkEventTypes refuses an events --type list with a type no daemon
// emits: a filter that matches nothing would wait silently forever.
func checkEventTypes(opt, list string) error {
	for _, typ := range strings.Split(list, ",") {
		if !event.IsType(typ) {
			known := slices.Clone(event.Types)
			slices.Sort(known)
			return usagef("%s: unknown event type %q (known: %s)", opt, oneLine(typ), strings.Join(known, ", "))
		}
	}
	return nil
}

func parseKill(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	var sig string
	sigSet := false
	setSig := func(v string) error {
		if sigSet {
			return usagef("signal given twice")
		}
		n, err := parseSignal(v)
		if err != nil {
			return err
		}
		sig, sigSet = n, true
		return nil
	}
	pos, err := positional(sc, args, out, func(a []string) (int, error) {
		name, val, hasVal := strings.Cut(a[0], "=")
		if name != "--signal" && name != "-signal" && name != "-s" {
			return -1, nil
		}
		if hasVal {
			return 1, setSig(val)
		}
		if len(a) < 2 {
			return 0, usagef("%s needs a signal", name)
		}
		return 2, setSig(a[1])
	})
	if err != nil {
		return proto.Request{}, 0, err
	}
	// Positional forms: ID [signal N], ID SIG.
	switch {
	case len(pos) == 3 && pos[1] == "signal":
		if err := setSig(pos[2]); err != nil {
			return proto.Request{}, 0, err
		}
	case len(pos) == 2 && pos[1] == "signal":
		return proto.Request{}, 0, usagef("signal needs a value")
	case len(pos) == 2:
		if err := setSig(pos[1]); err != nil {
			return proto.Request{}, 0, err
		}
	case len(pos) != 1:
		return proto.Request{}, 0, usagef("want ID [SIGNAL]")
	}
	if err := checkID("ID", pos[0]); err != nil {
		return proto.Request{}, 0, err
	}
	var req proto.Request
	req.Add("id", pos[0])
	if sigSet {
		req.Add("signal", sig)
	}
	return req, modePlain, nil
}

// parseSignal takes a number or a signal name (TERM, SIGTERM, term) and
// returns the number the protocol wants.
func parseSignal(v string) (string, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return strconv.Itoa(n), nil
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n := unix.SignalNum(name); n != 0 {
		return strconv.Itoa(int(n)), nil
	}
	return "", usagef("invalid signal %q", oneLine(v))
}

// listFlag is a repeatable string option.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runKeys maps run options to protocol keys, in the order they are sent
// (then require_path, service, env and arg).
var runKeys = []struct{ flag, key string }{
	{"id", "id"},
	{"priority", "priority"},
	{"cwd", "cwd"},
	{"cpu-max", "cpu_max"},
	{"cpu-weight", "cpu_weight"},
	{"cpuset-cpus", "cpuset_cpus"},
	{"cpuset-mems", "cpuset_mems"},
	{"memory-max", "memory_max"},
	{"memory-high", "memory_high"},
	{"memory-low", "memory_low"},
	{"memory-min", "memory_min"},
	{"memory-swap-max", "memory_swap_max"},
	{"io-weight", "io_weight"},
	{"io-max", "io_max"},
	{"pids-max", "pids_max"},
	{"queue-timeout", "queue_timeout"},
	{"ulimit", "ulimit"},
	{"require-path", "require_path"},
	{"service", "service"},
	{"env", "env"},
}

var repeatable = map[string]bool{"io-max": true, "ulimit": true, "require-path": true, "service": true, "env": true}

func parseRun(sc subcommand, args []string, out *output) (proto.Request, mode, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	outputFlags(fs, out)
	var opts runOpts // attach.go: --attach --wait --rm --timeout ...
	opts.flags(fs)
	cpus := fs.String("cpus", "", "")
	var sameDir bool
	fs.BoolVar(&sameDir, "same-dir", false, "")
	fs.BoolVar(&sameDir, "d", false, "")
	single := map[string]*string{}
	lists := map[string]*listFlag{}
	for _, rk := range runKeys {
		if repeatable[rk.flag] {
			lists[rk.flag] = new(listFlag)
			fs.Var(lists[rk.flag], rk.flag, "")
		} else {
			single[rk.flag] = fs.String(rk.flag, "", "")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return proto.Request{}, 0, &helpRequest{sc.usage}
		}
		return proto.Request{}, 0, usagef("%s", oneLine(err.Error()))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["id"] {
		if err := checkID("--id", *single["id"]); err != nil {
			return proto.Request{}, 0, err
		}
	}

	if sameDir && set["cwd"] {
		return proto.Request{}, 0, &usageError{msg: "--same-dir and --cwd: give one"}
	}
	if (sameDir || opts.attach || opts.pipe) && !set["cwd"] {
		// Where the caller is: --same-dir, or a job in the foreground.
		wd, err := os.Getwd()
		if err != nil {
			return proto.Request{}, 0, usagef("--same-dir: the current directory: %v (give --cwd DIR)", err)
		}
		*single["cwd"], set["cwd"] = wd, true
	}
	if set["cpus"] {
		if set["cpu-max"] {
			return proto.Request{}, 0, usagef("--cpus and --cpu-max: give one")
		}
		v, err := cpusValue(*cpus)
		if err != nil {
			return proto.Request{}, 0, err
		}
		*single["cpu-max"], set["cpu-max"] = v, true
	}
	for _, f := range sizeFlags {
		if set[f] {
			v, err := sizeValue(f, *single[f])
			if err != nil {
				return proto.Request{}, 0, err
			}
			*single[f] = v
		}
	}
	if set["queue-timeout"] {
		v := *single["queue-timeout"]
		if d, err := time.ParseDuration(v); err != nil || d < 0 {
			return proto.Request{}, 0, usagef("--queue-timeout: invalid duration %q (want e.g. 30s, 2m)", oneLine(v))
		}
	}
	for _, e := range *lists["env"] {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return proto.Request{}, 0, usagef("--env: want K=V, got %q", oneLine(e))
		}
	}

	var req proto.Request
	for _, rk := range runKeys {
		if !set[rk.flag] {
			continue
		}
		if l, ok := lists[rk.flag]; ok {
			for _, v := range *l {
				req.Add(rk.key, v)
			}
		} else {
			req.Add(rk.key, *single[rk.flag])
		}
	}
	// No argv is a usage error, as in the C client: nothing is sent. (An
	// empty argv[0], `-- ""`, still goes out: the daemon's `no command`.)
	if fs.NArg() == 0 {
		return proto.Request{}, 0, usagef("missing command (want: run [opts] -- argv...)")
	}
	m, err := opts.apply(&req, set)
	if err != nil {
		return proto.Request{}, 0, err
	}
	if m == modePipe && *out == outJSON {
		return proto.Request{}, 0, &usageError{msg: "--pipe and --json: give one (with --pipe, stdout is the job's)"}
	}
	for _, a := range fs.Args() {
		req.Add("arg", a)
	}
	return req, m, nil
}
