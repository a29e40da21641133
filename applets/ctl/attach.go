package ctl

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// run --attach / --wait (README "Attach"): the RUN carries wait: 1, so
// the daemon keeps the connection and sends WAIT's answer on it when the
// job ends (and holds an --rm job until the client hangs up). With
// --attach the client also follows the job's log (LOGS follow: 1) to
// stdout: the combined stdout and stderr as the daemon's -L captures them.
// A daemon without -L has no log to follow: the client says so on stderr
// and only waits. SIGINT and SIGTERM are passed on to the job (KILL with
// the same signal); a second one kills it (SIGKILL). If the client dies the
// job runs on, unless --kill-on-detach (RUN kill_on_detach: 1) made the
// daemon stop it then. At the end one line on stderr sums the run up; the
// exit status is wait's.

const attachOptions = `  --attach, -a                stream the job's output (its -L log) to stdout, then exit
                              with its status as wait does; Ctrl-C and SIGTERM go to
                              the job (a second Ctrl-C kills it)
  --pipe, -P                  the job's stdin, stdout and stderr are this command's own
                              (passed to the daemon, which stays out of the way); exit
                              as wait does; Ctrl-C and SIGTERM go to the job
  --wait                      wait for the job's end (no output); exit as wait does
  --kill-on-detach            with --attach/--pipe/--wait: stop the job if this client goes away
  --rm                        remove the job once it ended and was waited for
  --timeout D                 stop the job D after its start: SIGTERM, then SIGKILL
  --timeout-grace D           time between that SIGTERM and SIGKILL (default 10s)
`

// runOpts are the run options of this file.
type runOpts struct {
	attach, wait, rm, killOnDetach, pipe bool
	timeout, grace                       string
}

// flags registers them on the run flag set.
func (o *runOpts) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.attach, "attach", false, "")
	fs.BoolVar(&o.attach, "a", false, "")
	fs.BoolVar(&o.wait, "wait", false, "")
	fs.BoolVar(&o.pipe, "pipe", false, "")
	fs.BoolVar(&o.pipe, "P", false, "")
	fs.BoolVar(&o.rm, "rm", false, "")
	fs.BoolVar(&o.killOnDetach, "kill-on-detach", false, "")
	fs.StringVar(&o.timeout, "timeout", "", "")
	fs.StringVar(&o.grace, "timeout-grace", "", "")
}

// apply checks them, adds their RUN keys to req and returns the mode.
func (o *runOpts) apply(req *proto.Request, set map[string]bool) (mode, error) {
	for _, f := range []struct {
		name, v string
		zero    bool
	}{{"timeout", o.timeout, false}, {"timeout-grace", o.grace, true}} {
		if !set[f.name] {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil || d < 0 || (d == 0 && !f.zero) {
			return 0, usagef("--%s: invalid duration %q (want e.g. 30s, 2m)", f.name, oneLine(f.v))
		}
	}
	if o.killOnDetach && !o.attach && !o.wait && !o.pipe {
		return 0, usagef("--kill-on-detach needs --attach, --pipe or --wait")
	}
	if o.pipe && o.attach {
		return 0, &usageError{msg: "--pipe and --attach: give one (--pipe: the job uses this command's stdin, stdout, stderr; --attach: follow its log)"}
	}
	if o.rm {
		req.Add("rm", "1")
	}
	if set["timeout"] {
		req.Add("timeout", o.timeout)
	}
	if set["timeout-grace"] {
		req.Add("timeout_grace", o.grace)
	}
	if !o.attach && !o.wait && !o.pipe {
		return modePlain, nil
	}
	if !o.pipe {
		req.Add("wait", "1") // PIPE waits without it
	}
	if o.killOnDetach {
		req.Add("kill_on_detach", "1")
	}
	if o.pipe {
		return modePipe, nil
	}
	if o.attach {
		return modeAttach, nil
	}
	return modeRunWait, nil
}

// runAttached runs a RUN with wait: 1 (and with --attach its log) to the
// end; it returns the exit status.
func runAttached(inv invocation, stdout, stderr io.Writer) int {
	fail := failer(inv, stderr)
	// Before the RUN: a signal that comes while it is sent is not lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)

	conn, werr, err := send(inv)
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	first, err := proto.ReadBlock(br)
	switch {
	case err != nil && len(first.Raw) == 0 && werr != nil:
		return fail("send to %s: %v", inv.socket, werr)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF) || first.Status == "":
		return fail("%s: connection closed before the response was complete", inv.socket)
	case !first.IsOK():
		if v, _ := first.Get("verb"); v == "PIPE" { // the v1 answer to a verb it does not know
			return fail("--pipe: the daemon does not know PIPE (one without --pipe, such as the C cgroupd); nothing was started")
		}
		printBlock(inv, stdout, stderr, first)
		return refusedExit(first)
	}
	id, _ := first.Get("id")

	// Signals for the job: the same one first, SIGKILL on the second.
	done := make(chan struct{})
	defer close(done)
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				n++
				num := int(s.(unix.Signal))
				if n > 1 {
					num = int(unix.SIGKILL)
				}
				sendKill(inv.socket, id, num)
			}
		}
	}()

	if inv.mode == modeAttach {
		if msg := followLog(inv, id, stdout); msg != "" {
			fmt.Fprintf(stderr, "cgroupctl: %s: %s\n", inv.sub, msg)
		}
	}
	end, err := proto.ReadBlock(br)
	if err != nil || !end.IsOK() {
		if end.Status != "" {
			printBlock(inv, stdout, stderr, end)
			return 1
		}
		return fail("%s: connection closed before the job's end was reported", inv.socket)
	}
	if inv.json {
		printBlock(inv, stdout, stderr, end)
	}
	timeout, _ := inv.req.Get("timeout")
	if inv.mode != modePipe || notable(end) {
		fmt.Fprintln(stderr, summary(end, timeout))
	}
	code, err := waitStatus(end)
	if err != nil {
		return fail("%s: %v", inv.socket, err)
	}
	return code
}

// notable: the job did not end by itself with an exit status (a signal,
// the OOM killer, the daemon's timeout or detach). Only then does --pipe
// add its summary line to the job's stderr, as a shell says "Killed";
// and, as a shell, not for SIGPIPE (13), a pipeline's reader that is done.
func notable(end proto.Reply) bool {
	for _, h := range end.Headers {
		switch {
		case h.Key == "signal" && h.Value != "0" && h.Value != "13", h.Key == "oom_killed" && h.Value == "1", h.Key == "stop_reason":
			return true
		}
	}
	return false
}

// stdioFDs are this process's fds 0, 1 and 2 for run --pipe, which must
// be open: a closed one cannot be passed.
func stdioFDs() ([]int, error) {
	fds := []int{0, 1, 2}
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("fd %d (stdin, stdout, stderr) is not open", fd)
		}
	}
	return fds, nil
}

// followLog copies the job's log to stdout until the job has ended and
// everything was sent. It returns a message for stderr ("" for none).
func followLog(inv invocation, id string, stdout io.Writer) string {
	var req proto.Request
	req.Verb = "LOGS"
	wire, err := req.Add("id", id).Add("follow", "1").Encode()
	if err != nil {
		return err.Error()
	}
	c, err := dial(inv.socket)
	if err != nil {
		return fmt.Sprintf("no output: %v; waiting for the job only", err)
	}
	defer c.Close()
	if _, err := c.Write(wire); err != nil {
		return fmt.Sprintf("no output: send LOGS: %v; waiting for the job only", err)
	}
	c.CloseWrite()
	br := bufio.NewReaderSize(c, 64<<10)
	rep, err := proto.ReadBlock(br)
	if err != nil && rep.Status == "" {
		return fmt.Sprintf("no output: LOGS: %v; waiting for the job only", err)
	}
	if !rep.IsOK() {
		reason, _ := rep.Get("reason")
		if reason == "no log" {
			return "no output to attach to: the daemon keeps no job logs (started without -L); waiting for the job only"
		}
		return fmt.Sprintf("no output: LOGS: %s; waiting for the job only", reason)
	}
	if _, err := io.Copy(stdout, br); err != nil {
		return fmt.Sprintf("output: %v", err)
	}
	return ""
}

// sendKill asks the daemon to signal the job (errors are the job having
// ended already, or the daemon gone: nothing left to do).
func sendKill(socket, id string, sig int) {
	var req proto.Request
	req.Verb = "KILL"
	wire, err := req.Add("id", id).Add("signal", strconv.Itoa(sig)).Encode()
	if err != nil {
		return
	}
	c, err := dial(socket)
	if err != nil {
		return
	}
	defer c.Close()
	c.Write(wire)
	c.CloseWrite()
	io.Copy(io.Discard, c)
}

// printBlock prints a response block as received, or as JSON, or (for
// people) an err block as one line on stderr.
func printBlock(inv invocation, w, stderr io.Writer, rep proto.Reply) {
	switch {
	case inv.json:
		w.Write(append(appendJSONObject(nil, rep, nil), '\n'))
	case (inv.table || inv.mode == modePipe) && !rep.IsOK():
		// With --pipe stdout is the job's: a refusal goes to stderr.
		fmt.Fprintln(stderr, refusalLine(inv.sub, rep))
	case inv.table:
		io.WriteString(w, renderAligned(rep, uidName))
	default:
		w.Write(rep.Raw)
	}
}

// summary is the one line printed at the end, as systemd-run --wait's:
// how it ended (and why the daemon stopped it: timeout is the RUN's
// --timeout), run time, CPU time, memory peak, OOM kills. A figure the
// daemon did not report is "unknown".
func summary(end proto.Reply, timeout string) string {
	get := func(k string) string { v, _ := end.Get(k); return v }
	var b strings.Builder
	fmt.Fprintf(&b, "cgroupctl: run: job %s %s", get("id"), get("state"))
	switch get("stop_reason") {
	case "timeout":
		if d, err := time.ParseDuration(timeout); err == nil {
			timeout = d.String()
		} else if n, err := strconv.Atoi(timeout); err == nil {
			timeout = (time.Duration(n) * time.Second).String()
		}
		fmt.Fprintf(&b, ": timed out after %s", timeout)
	case "detach":
		b.WriteString(": stopped, its client went away")
	}
	if s := get("signal"); s != "" && s != "0" {
		n, _ := strconv.Atoi(s)
		name := unix.SignalName(unix.Signal(n))
		if name == "" {
			name = "signal " + s
		}
		fmt.Fprintf(&b, " (%s)", name)
	} else {
		fmt.Fprintf(&b, " (exit %s)", get("exit"))
	}
	if get("oom_killed") == "1" {
		b.WriteString(", OOM killed")
	}
	usec := func(k string, scale float64) string {
		v, err := strconv.ParseUint(get(k), 10, 64)
		if err != nil {
			return "unknown"
		}
		return strconv.FormatFloat(float64(v)/scale, 'f', 3, 64) + "s"
	}
	fmt.Fprintf(&b, "; run time %s, CPU time %s, memory peak %s, OOM kills %s",
		usec("run_ms", 1e3), usec("cpu_usec", 1e6), sizeOrUnknown(get("memory_peak")), orUnknown(get("oom_kills")))
	return b.String()
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

// sizeOrUnknown writes bytes as K, M, G (powers of 1024, one decimal).
func sizeOrUnknown(v string) string {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return "unknown"
	}
	return humanSize(n)
}

func humanSize(n uint64) string {
	f := float64(n)
	for _, u := range []string{"B", "K", "M", "G", "T"} {
		if f < 1024 || u == "T" {
			if u == "B" {
				return strconv.FormatUint(n, 10) + "B"
			}
			return strconv.FormatFloat(f, 'f', 1, 64) + u
		}
		f /= 1024
	}
	return ""
}

// refusedExit is the exit status of an attached or waited RUN that was
// refused: a shell's 127 for a command not found and 126 for one that is
// not executable (the daemon's exec_error), else 1.
func refusedExit(rep proto.Reply) int {
	switch v, _ := rep.Get("exec_error"); v {
	case "not_found":
		return 127
	case "not_executable":
		return 126
	}
	return 1
}
