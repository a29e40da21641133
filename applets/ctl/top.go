package ctl

import (
	"bufio"
	"cgroupd/core/account"
	"errors"
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

// cgroupctl top: a live view of the daemon's jobs, one TOP request
// (extension verb, README "top") per refresh. On a terminal it takes the
// whole screen (plain ANSI escapes, the terminal in raw mode through
// TCGETS/TCSETS) and reads keys; otherwise, or with -b, it prints tables
// (batch mode, as top -b), one per -n iteration.

const topUsage = `usage: cgroupctl top [-d DURATION] [-b] [-n N] [-s KEY]
  -d DURATION   refresh every DURATION (default 1s)
  -b            batch mode: print plain tables, no terminal control
  -n N          stop after N refreshes (batch default when stdout is no
                terminal: 1)
  -s KEY        sort by memory (default), cpu, pressure or priority
  keys: m memory, c cpu, p pressure, r priority (lowest first), q quit
`

var topKeys = map[byte]string{'m': "memory", 'c': "cpu", 'p': "pressure", 'r': "priority"}

// topInv is a parsed top command line.
type topInv struct {
	every time.Duration
	batch bool
	n     int // 0: until q
	sort  string
}

func parseTop(args []string) (topInv, error) {
	ti := topInv{every: time.Second, sort: "memory"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if isHelp(a) {
			return ti, &helpRequest{topUsage}
		}
		val := func() (string, error) {
			if i+1 >= len(args) {
				return "", usagef("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		switch a {
		case "-b", "--batch":
			ti.batch = true
		case "-d", "-n", "-s":
			v, err := val()
			if err != nil {
				return ti, err
			}
			switch a {
			case "-d":
				d, err := time.ParseDuration(v)
				if n, nerr := strconv.ParseFloat(v, 64); nerr == nil {
					d, err = time.Duration(n*float64(time.Second)), nil
				}
				if err != nil || d < 100*time.Millisecond {
					return ti, usagef("-d: want a duration of at least 100ms, got %q", oneLine(v))
				}
				ti.every = d
			case "-n":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return ti, usagef("-n: want a number >= 1, got %q", oneLine(v))
				}
				ti.n = n
			case "-s":
				if v != "memory" && v != "cpu" && v != "pressure" && v != "priority" {
					return ti, usagef("-s: want memory, cpu, pressure or priority, got %q", oneLine(v))
				}
				ti.sort = v
			}
		default:
			return ti, usagef("unexpected argument %q", oneLine(a))
		}
	}
	return ti, nil
}

// runTop is `cgroupctl top`.
func runTop(socket string, ti topInv, stdin *os.File, stdout io.Writer, stderr io.Writer) int {
	out, isFile := stdout.(*os.File)
	tty := isFile && isTerminal(int(out.Fd())) && !ti.batch
	if !tty {
		if ti.n == 0 && !ti.batch {
			ti.n = 1
		}
		for i := 0; ti.n == 0 || i < ti.n; i++ {
			if i > 0 {
				time.Sleep(ti.every)
			}
			snap, err := fetchTop(socket, ti.sort, 0)
			if err != nil {
				fmt.Fprintf(stderr, "cgroupctl: top: %v\n", err)
				return 1
			}
			if _, err := io.WriteString(stdout, renderTop(snap, ti.sort, 0, 0, time.Now(), uidName)); err != nil {
				return 1
			}
		}
		return 0
	}
	return topScreen(socket, ti, stdin, out, stderr)
}

// topScreen is the full-screen view.
func topScreen(socket string, ti topInv, stdin, out *os.File, stderr io.Writer) int {
	in := int(stdin.Fd())
	old, err := unix.IoctlGetTermios(in, unix.TCGETS)
	if err == nil {
		raw := *old
		raw.Lflag &^= unix.ICANON | unix.ECHO
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		unix.IoctlSetTermios(in, unix.TCSETS, &raw)
	}
	restore := func() {
		if old != nil {
			unix.IoctlSetTermios(in, unix.TCSETS, old)
		}
		io.WriteString(out, "\x1b[?25h\x1b[?1049l")
	}
	defer restore()
	io.WriteString(out, "\x1b[?1049h\x1b[?25l")

	keys := make(chan byte, 16)
	go func() {
		var b [1]byte
		for {
			n, err := stdin.Read(b[:])
			if err != nil || n == 0 {
				close(keys)
				return
			}
			keys <- b[0]
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer signal.Stop(sigs)

	sortKey := ti.sort
	for i := 0; ti.n == 0 || i < ti.n; i++ {
		rows, cols := 24, 80
		if ws, err := unix.IoctlGetWinsize(int(out.Fd()), unix.TIOCGWINSZ); err == nil && ws.Row > 0 {
			rows, cols = int(ws.Row), int(ws.Col)
		}
		snap, err := fetchTop(socket, sortKey, max(rows-topHeaderRows, 1))
		var screen string
		if err != nil {
			screen = "cgroupctl: top: " + err.Error() + "\n"
		} else {
			screen = renderTop(snap, sortKey, rows, cols, time.Now(), uidName)
		}
		io.WriteString(out, "\x1b[H"+strings.ReplaceAll(screen, "\n", "\x1b[K\r\n")+"\x1b[J")
		timer := time.NewTimer(ti.every)
	wait:
		for {
			select {
			case <-sigs:
				timer.Stop()
				return 0
			case k, ok := <-keys:
				if !ok || k == 'q' || k == 'Q' {
					timer.Stop()
					return 0
				}
				if s, ok := topKeys[k]; ok {
					sortKey = s
					timer.Stop()
					break wait
				}
			case <-timer.C:
				break wait
			}
		}
	}
	return 0
}

// topSnap is one TOP answer: the job blocks and the STATUS block.
type topSnap struct {
	jobs []proto.Reply
	head proto.Reply
}

func fetchTop(socket, sortKey string, limit int) (topSnap, error) {
	var snap topSnap
	var req proto.Request
	req.Verb = "TOP"
	req.Add("sort", sortKey)
	if limit > 0 {
		req.Add("limit", strconv.Itoa(limit))
	}
	wire, err := req.Encode()
	if err != nil {
		return snap, err
	}
	c, err := dial(socket)
	if err != nil {
		return snap, err
	}
	defer c.Close()
	if _, err := c.Write(wire); err != nil {
		return snap, fmt.Errorf("send to %s: %w", socket, err)
	}
	c.CloseWrite()
	return parseTopResponse(bufio.NewReaderSize(c, 64<<10))
}

// parseTopResponse reads TOP's blocks.
func parseTopResponse(br *bufio.Reader) (topSnap, error) {
	var snap topSnap
	last, err := proto.ReadResponse(br, func(rep proto.Reply) error {
		if rep.Status == "" {
			snap.jobs = append(snap.jobs, rep)
		}
		return nil
	})
	if err != nil {
		return snap, fmt.Errorf("TOP: %w", err)
	}
	if !last.IsOK() {
		reason, _ := last.Get("reason")
		if reason == "unknown verb" {
			reason += " (the daemon predates TOP)"
		}
		return snap, errors.New("TOP: " + reason)
	}
	snap.head = last
	return snap, nil
}

// topHeaderRows is how many lines renderTop puts above the job rows.
const topHeaderRows = 6 + topDecisionRows

const topDecisionRows = 3

// renderTop lays out one screen (rows, cols 0: no bounds, batch). name
// turns a uid into a user name.
func renderTop(s topSnap, sortKey string, rows, cols int, now time.Time, name func(string) string) string {
	h := func(k string) string {
		v, ok := s.head.Get(k)
		if !ok {
			return "-"
		}
		return v
	}
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	add("cgroupd top - %s  jobs %s (shown %s): running %s, frozen %s, pending (queue) %s",
		now.Format("15:04:05"), h("total"), h("count"), h("running"), h("frozen"), h("pending"))
	add("host psi avg10  memory some %s full %s  cpu some %s  io some %s full %s",
		h("psi_mem_some_avg10"), h("psi_mem_full_avg10"), h("psi_cpu_some_avg10"), h("psi_io_some_avg10"), h("psi_io_full_avg10"))
	add("engine %sms window, now/threshold %%  memory some %s/%s full %s/%s  cpu some %s/%s  io full %s/%s",
		h("pressure_window_ms"), h("pressure_mem_some_pct"), h("threshold_mem_freeze_some_pct"),
		h("pressure_mem_full_pct"), h("threshold_mem_kill_full_pct"), h("pressure_cpu_some_pct"),
		h("threshold_cpu_demote_some_pct"), h("pressure_io_full_pct"), h("threshold_io_freeze_full_pct"))
	var decs []string
	for _, hd := range s.head.Headers {
		if hd.Key == "decision" {
			decs = append(decs, hd.Value)
		}
	}
	if len(decs) > topDecisionRows {
		decs = decs[len(decs)-topDecisionRows:]
	}
	for i := 0; i < topDecisionRows; i++ {
		switch {
		case i < len(decs):
			add("decision: %s", decs[i])
		case i == 0:
			add("decision: none yet")
		default:
			add("")
		}
	}
	age := "figures not read yet"
	if v, ok := s.head.Get("sample_age_ms"); ok {
		age = "figures " + v + "ms old"
	}
	add("sort: %s   keys: m memory  c cpu  p pressure  r priority  q quit   %s", sortKey, age)
	add("%-20s %-8s %3s %-7s %6s %8s %8s %5s %6s %6s %6s", "ID", "OWNER", "PRI", "STATE", "CPU%", "MEM", "MEMMAX", "PIDS", "PSImem", "PSIcpu", "PSIio")
	for _, j := range s.jobs {
		g := func(k string) string {
			v, ok := j.Get(k)
			if !ok {
				return "-"
			}
			return v
		}
		size := func(k string) string {
			v, ok := j.Get(k)
			if !ok {
				return "-"
			}
			if v == "max" {
				return "max"
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return v
			}
			return humanSize(n)
		}
		cpu := g("cpu_pct")
		if f, err := strconv.ParseFloat(cpu, 64); err == nil {
			cpu = strconv.FormatFloat(f, 'f', 1, 64)
		}
		add("%-20s %-8s %3s %-7s %6s %8s %8s %5s %6s %6s %6s", clip(g("id"), 20), clip(name(g("uid")), 8), g("priority"), g("state"),
			cpu, size("memory_current"), size("memory_max"), g("pids_current"),
			g("psi_mem_some_avg10"), g("psi_cpu_some_avg10"), g("psi_io_some_avg10"))
	}
	if rows > 0 && len(lines) > rows {
		lines = lines[:rows]
	}
	if cols > 0 {
		for i, l := range lines {
			lines[i] = clip(l, cols)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// clip cuts s to n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

var uidNames = map[string]string{}

// uidName is the user name of a uid ("-" and unknown uids as given).
func uidName(uid string) string {
	if n, ok := uidNames[uid]; ok {
		return n
	}
	n := uid
	if id, err := strconv.ParseUint(uid, 10, 32); err == nil {
		if name, _, ok := account.User(uint32(id)); ok {
			n = name
		}
	}
	uidNames[uid] = n
	return n
}
