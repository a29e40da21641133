// Cgroupctl is the cgroupd client. Each subcommand sends one request of
// spec/PROTOCOL.md, half-closes the connection and prints the daemon's
// response: as received when stdout is no terminal (the v1 text), for
// people at a terminal (human.go), as JSON with --json (json.go). Its
// -h text, the const usage below, is its synopsis:
//
//	usage: cgroupctl [--socket PATH] [-o table|text|json | --json] <subcommand> [args]
//	  run [opts] -- argv...       submit a job
//	  list                        list jobs
//	  inspect ID                  per-job stats and pressure
//	  stats                       host pressure summary
//	  freeze ID | thaw ID         freeze or thaw a job's cgroup
//	  kill ID [SIG]               send a signal (default SIGKILL): a number or a name
//	                              (HUP, SIGHUP); also signal SIG, --signal SIG, -s SIG
//	  wait ID                     block until the job ends
//	  logs ID [--follow|-f]       print the captured stdout/stderr
//	  events [-f] [--id ID] [--type T,...]  the daemon's recent EVENT lines;
//	                              --follow: then each new one as it happens
//	  remove ID                   remove an ended job and its cgroup
//	  ping                        health check
//	  quit [--wait]               ask the daemon to shut down (--wait: until it has exited)
//	  upgrade                     re-execute the daemon's binary in place (keeps jobs)
//	  metrics                     the daemon's Prometheus metrics (text format 0.0.4)
//	  top [-d D] [-b] [-n N] [-s KEY]  live view of jobs, pressure, engine decisions
//	run options:
//	  --id ID  --priority N  --cwd DIR  --env K=V (repeatable)
//	  --same-dir, -d              run in this command's directory (sent as --cwd); --attach and
//	                              --pipe do so unless --cwd is given; else the daemon's directory
//	  --cpu-max Q/P  --cpu-weight N  --cpuset-cpus CPUS  --cpuset-mems MEMS
//	  --memory-max SZ  --memory-high SZ  --memory-low SZ  --memory-min SZ
//	  --memory-swap-max SZ  --io-weight N  --io-max RULE (repeatable)
//	  --pids-max N  --require-path PATH (repeatable)  --service CMD (repeatable)
//	  --queue-timeout DURATION (new; Go syntax, e.g. 30s)
//	  --ulimit NAME=SOFT[:HARD] (repeatable; new, as docker's: nofile=1024:4096)
//	  --cpus N                    CPUs (fractional: 1.5), sent as --cpu-max N*100000/100000
//	  SZ: bytes, or with a unit of 1024: 512k, 64M, 64MiB, 1.5G, 2GiB; or max
//	  --attach, -a                stream the job's output (its -L log) to stdout, then exit
//	                              with its status as wait does; Ctrl-C and SIGTERM go to
//	                              the job (a second Ctrl-C kills it)
//	  --pipe, -P                  the job's stdin, stdout and stderr are this command's own
//	                              (passed to the daemon, which stays out of the way); exit
//	                              as wait does; Ctrl-C and SIGTERM go to the job
//	  --wait                      wait for the job's end (no output); exit as wait does
//	  --kill-on-detach            with --attach/--pipe/--wait: stop the job if this client goes away
//	  --rm                        remove the job once it ended and was waited for
//	  --timeout D                 stop the job D after its start: SIGTERM, then SIGKILL
//	  --timeout-grace D           time between that SIGTERM and SIGKILL (default 10s)
//	global options:
//	  -s, --socket PATH           daemon socket (default: $CGROUPD_SOCKET, else
//	                              /run/cgroupd.sock for root, else
//	                              /run/user/UID/cgroupd.sock if /run/user/UID
//	                              exists, else /tmp/cgroupd-UID.sock)
//	  -o table|text|json          table: for people, the default when stdout is a
//	                              terminal (list as a table, inspect and stats aligned
//	                              in human units, unknown figures left out, a refusal
//	                              as one line on stderr); text: the daemon's response
//	                              as received, the default otherwise; json: each
//	                              response as one JSON object. May also follow the
//	                              subcommand.
//	  --json                      -o json
//	  -h, --help                  this text; `cgroupctl SUBCOMMAND -h` for one
//	  -V, --version               print the version line and exit
//	Output (-o text): the daemon's response as received (STATUS: ok, then
//	key: value lines; every block for list). logs and metrics print only the raw bytes
//	that follow the STATUS block, with --json too (an error is JSON); events
//	prints the EVENT lines, with --json as NDJSON (one JSON object per line).
//	Exit status: 0 for STATUS: ok, 1 for STATUS: err or no connection, 2 for a
//	usage error (nothing is sent: a bad option, run without a command, a value
//	with CR or LF); wait: the job's exit status, or 128+N when signal N ended it,
//	or 255 when the daemon could not know it (exit_known: 0).
package ctl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"cgroupd/core/proto"
)

const usage = `usage: cgroupctl [--socket PATH] [-o table|text|json | --json] <subcommand> [args]
  run [opts] -- argv...       submit a job
  list                        list jobs
  inspect ID                  per-job stats and pressure
  stats                       host pressure summary
  freeze ID | thaw ID         freeze or thaw a job's cgroup
  kill ID [SIG]               send a signal (default SIGKILL): a number or a name
                              (HUP, SIGHUP); also signal SIG, --signal SIG, -s SIG
  wait ID                     block until the job ends
  logs ID [--follow|-f]       print the captured stdout/stderr
  events [-f] [--id ID] [--type T,...]  the daemon's recent EVENT lines;
                              --follow: then each new one as it happens
  remove ID                   remove an ended job and its cgroup
  ping                        health check
  quit [--wait]               ask the daemon to shut down (--wait: until it has exited)
  upgrade                     re-execute the daemon's binary in place (keeps jobs)
  metrics                     the daemon's Prometheus metrics (text format 0.0.4)
  top [-d D] [-b] [-n N] [-s KEY]  live view of jobs, pressure, engine decisions
run options:
` + runOptions + `global options:
  -s, --socket PATH           daemon socket (default: $CGROUPD_SOCKET, else
                              /run/cgroupd.sock for root, else
                              /run/user/UID/cgroupd.sock if /run/user/UID
                              exists, else /tmp/cgroupd-UID.sock)
  -o table|text|json          table: for people, the default when stdout is a
                              terminal (list as a table, inspect and stats aligned
                              in human units, unknown figures left out, a refusal
                              as one line on stderr); text: the daemon's response
                              as received, the default otherwise; json: each
                              response as one JSON object. May also follow the
                              subcommand.
  --json                      -o json
  -h, --help                  this text; ` + "`cgroupctl SUBCOMMAND -h`" + ` for one
  -V, --version               print the version line and exit
Output (-o text): the daemon's response as received (STATUS: ok, then
key: value lines; every block for list). logs and metrics print only the raw bytes
that follow the STATUS block, with --json too (an error is JSON); events
prints the EVENT lines, with --json as NDJSON (one JSON object per line).
Exit status: 0 for STATUS: ok, 1 for STATUS: err or no connection, 2 for a
usage error (nothing is sent: a bad option, run without a command, a value
with CR or LF); wait: the job's exit status, or 128+N when signal N ended it,
or 255 when the daemon could not know it (exit_known: 0).
`

const runOptions = `  --id ID  --priority N  --cwd DIR  --env K=V (repeatable)
  --same-dir, -d              run in this command's directory (sent as --cwd); --attach and
                              --pipe do so unless --cwd is given; else the daemon's directory
  --cpu-max Q/P  --cpu-weight N  --cpuset-cpus CPUS  --cpuset-mems MEMS
  --memory-max SZ  --memory-high SZ  --memory-low SZ  --memory-min SZ
  --memory-swap-max SZ  --io-weight N  --io-max RULE (repeatable)
  --pids-max N  --require-path PATH (repeatable)  --service CMD (repeatable)
  --queue-timeout DURATION (new; Go syntax, e.g. 30s)
  --ulimit NAME=SOFT[:HARD] (repeatable; new, as docker's: nofile=1024:4096)
  --cpus N                    CPUs (fractional: 1.5), sent as --cpu-max N*100000/100000
  SZ: bytes, or with a unit of 1024: 512k, 64M, 64MiB, 1.5G, 2GiB; or max
` + attachOptions

// usageError is a bad command line: one line on stderr, exit 2. sub is
// the subcommand it is about ("" for the global options).
type usageError struct{ sub, msg string }

func (e *usageError) Error() string { return e.msg }

// line is the message as printed: `cgroupctl: SUB: MSG (see 'cgroupctl
// SUB -h')`.
func (e *usageError) line() string {
	if e.sub == "" {
		return "cgroupctl: " + e.msg + " (see 'cgroupctl -h')"
	}
	return "cgroupctl: " + e.sub + ": " + e.msg + " (see 'cgroupctl " + e.sub + " -h')"
}

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// helpRequest asks for a usage text on stdout, exit 0.
type helpRequest struct{ text string }

func (h *helpRequest) Error() string { return "help requested" }

// Run is the applet entry point.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv, err := parseArgs(args)
	if err == nil {
		// Refuse CR/LF (and any other unsendable request) before connecting.
		inv.wire, err = inv.req.Encode()
		if err != nil {
			err = &usageError{sub: inv.sub, msg: err.Error()}
		}
	}
	var help *helpRequest
	var uerr *usageError
	switch {
	case errors.As(err, &help):
		io.WriteString(stdout, help.text)
		return 0
	case errors.As(err, &uerr):
		fmt.Fprintln(stderr, uerr.line())
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "cgroupctl: %v\n", err)
		return 2
	}
	if inv.socket == "" {
		inv.socket = defaultSocket()
	}
	switch inv.out {
	case outTable:
		inv.table = true
	case outAuto:
		f, ok := stdout.(*os.File)
		inv.table = ok && isTerminal(int(f.Fd()))
	}
	if inv.table {
		inv.cols, inv.proc = terminalWidth(stdout), "/proc"
	}
	if inv.mode == modePipe {
		if inv.stdio, err = stdioFDs(); err != nil {
			fmt.Fprintf(stderr, "cgroupctl: run: --pipe: %v\n", err)
			return 1
		}
	}
	if inv.mode == modeTop {
		in, ok := stdin.(*os.File)
		if !ok {
			in = os.Stdin
		}
		return runTop(inv.socket, inv.top, in, stdout, stderr) // top.go
	}
	return exchange(inv, stdout, stderr)
}

// defaultSocket is $CGROUPD_SOCKET, else the PROTOCOL.md default for our uid.
func defaultSocket() string {
	if p := os.Getenv("CGROUPD_SOCKET"); p != "" {
		return p
	}
	return proto.DefaultSocket(os.Getuid(), func(dir string) bool {
		fi, err := os.Stat(dir)
		return err == nil && fi.IsDir()
	})
}

// oneLine keeps a message that quotes user input on one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
