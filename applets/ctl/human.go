package ctl

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

// Output for people (issue 24): when stdout is a terminal, or with
// -o table, list is a table as docker ps and pueue status print one,
// inspect and stats are aligned key: value lines in human units, and a
// refusal is one line on stderr. Piped output (-o text, the default when
// stdout is no terminal) stays the daemon's response as received.
//
// A figure that is unknown is left out, never shown as 0 (here and in
// JSON): see unknownKeys.

// isTerminal reports whether fd is a terminal (TCGETS succeeds).
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// terminalWidth is the width of the terminal on w, 0 when w is none.
func terminalWidth(w any) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// liveStates are the states of a job whose end is not known yet.
var liveStates = map[string]bool{"pending": true, "running": true, "frozen": true}

// unknownKeys returns the keys of rep whose values stand for "not known":
//   - a number or flag that is empty or says unknown;
//   - exit and signal while the job is live, or when exit_known is 0 (the
//     daemon could not know them: v1 keeps them as 0);
//   - the *_unix_ms and *_mono_ms stamps that are 0 (PROTOCOL.md: 0 when
//     not yet known), and a pending job's pid (0: it has none yet);
//   - memory_current, pids_current and memory_total that are 0: the daemon
//     writes 0 when it does not read them (an ended or pending job in LIST)
//     or cannot (no memory or pids controller), and a live job's cgroup
//     always holds a process and charges memory;
//   - the psi_* figures when psi_available is 0 (the kernel measures no
//     pressure; v1 keeps them as 0.00);
//   - the keys INSPECT's unknown names (figures whose cgroup file the
//     daemon could not read), and unknown itself.
func unknownKeys(rep proto.Reply) map[string]bool {
	var unknown map[string]bool
	mark := func(k string) {
		if unknown == nil {
			unknown = map[string]bool{}
		}
		unknown[k] = true
	}
	if u, ok := rep.Get("unknown"); ok {
		for _, k := range strings.Split(u+",unknown", ",") {
			mark(k)
		}
	}
	state, hasState := rep.Get("state")
	live := hasState && liveStates[state]
	exitKnown, _ := rep.Get("exit_known")
	psiAvail, _ := rep.Get("psi_available")
	for _, h := range rep.Headers {
		k, v := h.Key, h.Value
		t := jsonTypes[k]
		switch {
		case (t == jsonNumber || t == jsonBool) && (v == "" || strings.EqualFold(v, "unknown")):
			mark(k)
		case (k == "exit" || k == "signal") && (live || exitKnown == "0"):
			mark(k)
		case (strings.HasSuffix(k, "_unix_ms") || strings.HasSuffix(k, "_mono_ms")) && v == "0":
			mark(k)
		case k == "pid" && state == "pending" && v == "0":
			mark(k)
		case (k == "memory_current" || k == "pids_current" || k == "memory_total") && v == "0":
			mark(k)
		case strings.HasPrefix(k, "psi_") && k != "psi_available" && psiAvail == "0":
			mark(k)
		}
	}
	return unknown
}

// known returns a getter of rep's known values.
func known(rep proto.Reply) func(string) (string, bool) {
	unknown := unknownKeys(rep)
	return func(k string) (string, bool) {
		if unknown[k] {
			return "", false
		}
		return rep.Get(k)
	}
}

// refusalLine is an err block as one line: `cgroupctl: SUB: REASON: DETAIL`,
// the detail being the block's other keys (detail's value first, then
// each other key and its value).
func refusalLine(sub string, rep proto.Reply) string {
	reason, _ := rep.Get("reason")
	if reason == "" {
		reason = "refused"
	}
	var parts []string
	if d, ok := rep.Get("detail"); ok && d != "" {
		parts = append(parts, d)
	}
	for _, h := range rep.Headers {
		if h.Key != "reason" && h.Key != "detail" {
			parts = append(parts, h.Key+" "+h.Value)
		}
	}
	line := "cgroupctl: " + sub + ": " + reason
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	}
	return oneLine(line)
}

// fmtBytes is n bytes in 1024-based units: 512B, 1.5KiB, 64MiB, 2.3GiB.
func fmtBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + "B"
	}
	f := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if f >= 100 {
		s = strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strings.TrimSuffix(s, ".0") + units[i]
}

// fmtDuration is d as people read it: 450ms, 3s, 2m10s, 1h5m, 3d4h.
func fmtDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	s := int64(d / time.Second)
	two := func(a int64, ua string, b int64, ub string) string {
		out := strconv.FormatInt(a, 10) + ua
		if b > 0 {
			out += strconv.FormatInt(b, 10) + ub
		}
		return out
	}
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return two(s/60, "m", s%60, "s")
	case s < 86400:
		return two(s/3600, "h", s%3600/60, "m")
	}
	return two(s/86400, "d", s%86400/3600, "h")
}

// unit is how a key's value is shown to people.
type unit int

const (
	unitAsIs    unit = iota
	unitBytes        // a size in bytes
	unitMs           // a duration in milliseconds
	unitUsec         // a duration in microseconds
	unitUnixMs       // a wall-clock time, epoch milliseconds
	unitPercent      // a percentage (PSI, the engine's measurements)
	unitFlag         // 0 or 1
	unitHidden       // not for people (monotonic stamps)
)

// unitOf is the unit of a key of the daemon's (jsonTypes names them all).
func unitOf(k string) unit {
	switch {
	case k == "age_ms" || k == "run_ms" || k == "pressure_window_ms" || k == "sample_age_ms" ||
		k == "sample_cycle_ms" || k == "window_ms" || k == "held_ms" || k == "below_ms" || k == "hold_ms":
		return unitMs
	case strings.HasSuffix(k, "_unix_ms"):
		return unitUnixMs
	case strings.HasSuffix(k, "_mono_ms"):
		return unitHidden
	case strings.HasSuffix(k, "_usec"):
		return unitUsec
	case strings.HasSuffix(k, "_bytes") || k == "memory_current" || k == "memory_swap_current" ||
		k == "memory_total" || k == "memory_peak" || k == "memory_max" || k == "io_rbytes" ||
		k == "io_wbytes" || k == "victim_memory" || k == "victim_memory_low":
		return unitBytes
	case strings.HasPrefix(k, "psi_") && strings.HasSuffix(k, "_avg10"), strings.HasSuffix(k, "_pct"),
		k == "some_avg10" || k == "full_avg10" || k == "pct" || k == "threshold" || k == "swap_threshold":
		return unitPercent
	case jsonTypes[k] == jsonBool:
		return unitFlag
	}
	return unitAsIs
}

// human is v of key k in human units (v as given when it does not parse).
func human(k, v string) string {
	switch unitOf(k) {
	case unitBytes:
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return fmtBytes(n)
		}
	case unitMs:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return fmtDuration(time.Duration(n) * time.Millisecond)
		}
	case unitUsec:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return fmtDuration(time.Duration(n) * time.Microsecond)
		}
	case unitUnixMs:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.UnixMilli(n).Local().Format("2006-01-02 15:04:05")
		}
	case unitPercent:
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return v + "%"
		}
	case unitFlag:
		switch v {
		case "0":
			return "no"
		case "1":
			return "yes"
		}
	}
	return v
}

// renderAligned writes an ok block (INSPECT, STATS) as aligned `key: value`
// lines in human units, in the daemon's order, the unknown figures and the
// monotonic stamps left out; name turns a uid into a user name.
func renderAligned(rep proto.Reply, name func(string) string) string {
	unknown := unknownKeys(rep)
	var keys, vals []string
	width := 0
	for _, h := range rep.Headers {
		if unknown[h.Key] || unitOf(h.Key) == unitHidden {
			continue
		}
		v := human(h.Key, h.Value)
		if h.Key == "uid" {
			if n := name(h.Value); n != "" && n != h.Value {
				v += " (" + n + ")"
			}
		}
		keys = append(keys, h.Key)
		vals = append(vals, oneLine(v))
		width = max(width, len(h.Key))
	}
	var b strings.Builder
	for i, k := range keys {
		b.WriteString(k)
		b.WriteString(":")
		b.WriteString(strings.Repeat(" ", width-len(k)+2))
		b.WriteString(vals[i])
		b.WriteString("\n")
	}
	return b.String()
}

// listColumns are the table's columns.
var listColumns = []string{"ID", "OWNER", "STATE", "PRIO", "AGE", "RUN", "MEM", "COMMAND"}

// renderList writes LIST's job blocks as a table. cols is the terminal's
// width (0: unknown, nothing is cut); proc is the procfs root the owner
// and command of a live job are read from, when the block does not carry
// them (uid, command), and name turns a uid into a user name.
func renderList(jobs []proto.Reply, cols int, proc string, name func(string) string) string {
	rows := [][]string{listColumns}
	for _, j := range jobs {
		get := known(j)
		cell := func(k string, f func(string) string) string {
			v, ok := get(k)
			if !ok || v == "" {
				return "-"
			}
			if f != nil {
				return f(v)
			}
			return oneLine(v)
		}
		uid, hasUID := get("uid")
		cmd, hasCmd := get("command")
		if !hasUID || !hasCmd {
			pid, _ := get("pid")
			cg, _ := get("cgroup")
			pu, pc, ok := procInfo(proc, pid, cg)
			if ok && !hasUID {
				uid, hasUID = pu, true
			}
			if ok && !hasCmd {
				cmd, hasCmd = pc, true
			}
		}
		owner, command := "-", "-"
		if hasUID {
			owner = name(uid)
		}
		if hasCmd && cmd != "" {
			command = oneLine(cmd)
		}
		rows = append(rows, []string{
			cell("id", nil), owner, jobState(get), cell("priority", nil),
			cell("age_ms", func(v string) string { return human("age_ms", v) }),
			runTime(get),
			cell("memory_current", func(v string) string { return human("memory_current", v) }),
			command,
		})
	}
	width := make([]int, len(listColumns))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				line.WriteString(c)
				break
			}
			line.WriteString(c)
			line.WriteString(strings.Repeat(" ", width[i]-len(c)+2))
		}
		l := line.String()
		if cols > 0 && len(l) > cols {
			l = l[:cols-1] + "…"
		}
		b.WriteString(l)
		b.WriteString("\n")
	}
	return b.String()
}

// jobState is the STATE cell: the state, and how an ended job ended when
// the state does not say it all (failed: the exit status or the signal).
func jobState(get func(string) (string, bool)) string {
	state, ok := get("state")
	if !ok {
		return "-"
	}
	if v, _ := get("exit_known"); v == "0" {
		return state + " (status unknown)"
	}
	if state != "failed" {
		return state
	}
	if sig, ok := get("signal"); ok && sig != "0" {
		n, _ := strconv.Atoi(sig)
		if name := unix.SignalName(unix.Signal(n)); name != "" {
			return state + " (" + name + ")"
		}
		return state + " (signal " + sig + ")"
	}
	if code, ok := get("exit"); ok {
		return state + " (exit " + code + ")"
	}
	return state
}

// runTime is the RUN cell: how long the job ran (until now while it runs).
func runTime(get func(string) (string, bool)) string {
	state, _ := get("state")
	start, okStart := get("start_unix_ms")
	end, okEnd := get("exit_unix_ms")
	if okStart && okEnd {
		s, err1 := strconv.ParseInt(start, 10, 64)
		e, err2 := strconv.ParseInt(end, 10, 64)
		if err1 == nil && err2 == nil && e >= s {
			return fmtDuration(time.Duration(e-s) * time.Millisecond)
		}
	}
	if (state == "running" || state == "frozen") && okStart {
		// age_ms counts from the start once the job started.
		if age, ok := get("age_ms"); ok {
			return human("age_ms", age)
		}
	}
	return "-"
}

// procInfo reads the owner (real uid) and command line of process pid from
// proc, if it is still the job's: its cgroup v2 path must be the job's
// cgroup (a pid the kernel reused elsewhere is not the job).
func procInfo(proc, pid, cgroup string) (uid, cmd string, ok bool) {
	if pid == "" || pid == "0" || cgroup == "" {
		return "", "", false
	}
	dir := filepath.Join(proc, pid)
	cg, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if err != nil {
		return "", "", false
	}
	in := false
	for _, l := range strings.Split(string(cg), "\n") {
		if p, found := strings.CutPrefix(l, "0::"); found && p != "/" && strings.HasSuffix(cgroup, p) {
			in = true
		}
	}
	if !in {
		return "", "", false
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return "", "", false
	}
	for _, l := range strings.Split(string(status), "\n") {
		if rest, found := strings.CutPrefix(l, "Uid:"); found {
			if f := strings.Fields(rest); len(f) > 0 {
				uid = f[0]
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return "", "", false
	}
	cmd = string(bytes.Join(bytes.Split(bytes.TrimRight(raw, "\x00"), []byte{0}), []byte{' '}))
	return uid, cmd, uid != ""
}
