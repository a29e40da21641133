package ctl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"syscall"
	"time"

	"cgroupd/core/event"
	"cgroupd/core/proto"
	"cgroupd/core/sock"
)

// dial connects to the daemon; the error reads
// `connect PATH: <cause>` with a hint when nobody is listening.
func dial(path string) (*sock.Conn, error) {
	c, err := sock.Dial(path)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("%w (is cgroupd running?)", err)
	}
	return c, err
}

// send dials the daemon, writes inv's request and half-closes. A write
// error (the daemon refused and closed early) is returned as werr, to be
// reported only if no response follows it: the response says more.
func send(inv invocation) (conn *sock.Conn, werr, err error) {
	if conn, err = dial(inv.socket); err != nil {
		return nil, nil, err
	}
	if inv.stdio != nil {
		werr = conn.WriteFDs(inv.wire, inv.stdio...) // PIPE (attach.go)
	} else {
		_, werr = conn.Write(inv.wire)
	}
	if werr == nil {
		werr = conn.CloseWrite()
	}
	return conn, werr, nil
}

// failer returns a function that prints one error line for inv on stderr,
// `cgroupctl: SUB: MESSAGE`, and returns exit status 1.
func failer(inv invocation, stderr io.Writer) func(format string, a ...any) int {
	return func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cgroupctl: %s: %s\n", inv.sub, fmt.Sprintf(format, a...))
		return 1
	}
}

// exchange sends inv's request, half-closes, and handles the response by
// mode. It returns the exit status.
func exchange(inv invocation, stdout, stderr io.Writer) int {
	fail := failer(inv, stderr)
	if inv.mode == modeAttach || inv.mode == modeRunWait || inv.mode == modePipe {
		return runAttached(inv, stdout, stderr) // attach.go
	}
	conn, werr, err := send(inv)
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()
	daemonPid := 0
	if inv.mode == modeQuitWait {
		if daemonPid, err = conn.PeerPid(); err != nil {
			return fail("%v", err)
		}
	}
	br := bufio.NewReaderSize(conn, 64<<10)

	if inv.mode == modeStream {
		return readStream(inv, br, werr, stdout, stderr, fail)
	}

	bw := bufio.NewWriterSize(stdout, 64<<10)
	var outErr error
	var jobs []byte          // JSON: LIST's job blocks as objects, comma-separated
	var blocks []proto.Reply // table: LIST's job blocks
	last, err := proto.ReadResponse(br, func(rep proto.Reply) error {
		if inv.json {
			// Held until the STATUS block: a response cut short prints
			// nothing rather than half a JSON document.
			if rep.Status == "" {
				if len(jobs) > 0 {
					jobs = append(jobs, ',')
				}
				jobs = appendJSONObject(jobs, rep, nil)
			}
			return nil
		}
		if inv.table {
			if rep.Status == "" {
				blocks = append(blocks, rep)
			}
			return nil
		}
		if _, err := bw.Write(rep.Raw); err != nil {
			outErr = err
			return err
		}
		return nil
	})
	switch {
	case err != nil:
	case inv.json:
		var pre func([]byte) []byte
		if inv.req.Verb == "LIST" || len(jobs) > 0 {
			pre = func(b []byte) []byte {
				b = append(b, `"jobs":[`...)
				return append(append(b, jobs...), ']')
			}
		}
		_, outErr = bw.Write(append(appendJSONObject(nil, last, pre), '\n'))
	case inv.table:
		outErr = writeHuman(inv, bw, stderr, last, blocks)
	default:
		// Print as received: anything after the STATUS block too.
		_, outErr = io.Copy(bw, br)
	}
	if ferr := bw.Flush(); outErr == nil {
		outErr = ferr
	}
	switch {
	case outErr != nil:
		return fail("write output: %v", outErr)
	case err != nil && len(last.Raw) == 0 && werr != nil:
		return fail("send to %s: %v", inv.socket, werr)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fail("%s: connection closed before the response was complete", inv.socket)
	case err != nil:
		return fail("read from %s: %v", inv.socket, err)
	case !last.IsOK():
		return 1
	}
	if inv.mode == modeQuitWait {
		// The shutdown kills every job and removes what the daemon made;
		// it gives up on jobs after 10 s, so a minute is plenty.
		done, err := sock.WaitExit(daemonPid, time.Minute)
		switch {
		case err != nil:
			return fail("wait for the daemon (pid %d): %v", daemonPid, err)
		case !done:
			return fail("the daemon (pid %d) is still running a minute after QUIT", daemonPid)
		}
		return 0
	}
	if inv.mode == modeWait {
		if v, _ := last.Get("exit_known"); v == "0" {
			// The job ended while no daemon was its parent: nobody knows
			// how. Never reported as a success (README: Restarts).
			id, _ := last.Get("id")
			why, _ := last.Get("exit_reason")
			fail("job %s: exit status unknown (%s)", id, why)
			return ExitUnknown
		}
		code, err := waitStatus(last)
		if err != nil {
			return fail("%s: %v", inv.socket, err)
		}
		return code
	}
	return 0
}

// eventsJSON prints each EVENT line as one JSON object on a line of its
// own (NDJSON), as it arrives: the line's keys in order, values decoded and
// typed by key (ts_unix_ms a number, and so on). A line that is not an
// event line is left out.
func eventsJSON(inv invocation, br *bufio.Reader, stdout io.Writer, fail func(string, ...any) int) int {
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if kv, ok := event.Parse(line); ok {
			var rep proto.Reply
			for i := 0; i+1 < len(kv); i += 2 {
				rep.Headers = append(rep.Headers, proto.Header{Key: kv[i], Value: kv[i+1]})
			}
			out = append(appendJSONObject(out[:0], rep, nil), '\n')
			if _, werr := stdout.Write(out); werr != nil {
				return fail("write output: %v", werr)
			}
		}
		if err == io.EOF {
			return 0
		}
		if err != nil {
			return fail("read from %s: %v", inv.socket, err)
		}
	}
}

// writeHuman prints a whole response for people (human.go): a refusal as
// one line on stderr, list as a table, any other ok block aligned.
func writeHuman(inv invocation, stdout *bufio.Writer, stderr io.Writer, last proto.Reply, jobs []proto.Reply) error {
	if !last.IsOK() {
		_, err := fmt.Fprintln(stderr, refusalLine(inv.sub, last))
		return err
	}
	var out string
	if inv.req.Verb == "LIST" {
		out = renderList(jobs, inv.cols, inv.proc, uidName)
	} else {
		out = renderAligned(last, uidName)
	}
	_, err := stdout.WriteString(out)
	return err
}

// ExitUnknown is wait's exit status for a job whose status the daemon
// could not know (exit_known: 0).
const ExitUnknown = 255

// waitStatus is the exit status of a WAIT: the job's exit status, or
// 128+N when signal N ended it.
func waitStatus(rep proto.Reply) (int, error) {
	num := func(key string) (int, error) {
		v, ok := rep.Get(key)
		if !ok {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid %s %q in WAIT response", key, v)
		}
		return n, nil
	}
	sig, err := num("signal")
	if err != nil {
		return 1, err
	}
	if sig != 0 {
		return 128 + sig, nil
	}
	return num("exit")
}

// readStream reads the header block of a LOGS or METRICS response; on ok
// it streams the raw bytes that follow (the log, the exposition text) to
// stdout as they arrive, else it prints the block (as JSON with --json).
func readStream(inv invocation, br *bufio.Reader, werr error, stdout, stderr io.Writer, fail func(string, ...any) int) int {
	rep, err := proto.ReadBlock(br)
	switch {
	case err == io.EOF && werr != nil:
		return fail("send to %s: %v", inv.socket, werr)
	case err == io.EOF || (errors.Is(err, io.ErrUnexpectedEOF) && rep.Status == ""):
		if !inv.json {
			stdout.Write(rep.Raw)
		}
		return fail("%s: connection closed before the response was complete", inv.socket)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fail("read from %s: %v", inv.socket, err)
	case !rep.IsOK() && inv.table:
		fmt.Fprintln(stderr, refusalLine(inv.sub, rep))
		return 1
	case !rep.IsOK():
		out := rep.Raw
		if inv.json {
			out = append(appendJSONObject(nil, rep, nil), '\n')
		}
		if _, err := stdout.Write(out); err != nil {
			return fail("write output: %v", err)
		}
		return 1
	}
	if inv.json && inv.req.Verb == "EVENTS" {
		return eventsJSON(inv, br, stdout, fail)
	}
	// io.Copy writes each chunk as soon as it is read: --follow is live.
	if _, err := io.Copy(stdout, br); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "read" {
			return fail("read from %s: %v", inv.socket, err)
		}
		return fail("write output: %v", err)
	}
	return 0
}
