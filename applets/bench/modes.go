package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runMode: RUN rate and latency with N concurrent clients; then, untimed,
// WAIT and REMOVE the jobs it started.
func runMode(e *env, args []string) error {
	f := newFlags(e, "run", "run", true)
	clients := f.Int("clients", 1, "concurrent connections")
	count := f.Int("count", 1000, "timed RUN requests")
	warmup := f.Int("warmup", 50, "untimed RUN requests first")
	prio := f.Int("priority", -1, "priority key (-1: leave out)")
	argvFlag := f.String("argv", "/bin/true", "job command, split on white space")
	prefix := f.String("prefix", fmt.Sprintf("bench%d", os.Getpid()), "job id prefix")
	keep := f.Bool("keep", false, "leave the jobs behind")
	if err := f.parse(args, clients, count); err != nil {
		return err
	}
	if *warmup < 0 {
		return usagef("-warmup must not be negative")
	}
	if f.tag == "" {
		e.fig.tag = fmt.Sprintf("c%d", *clients)
	}
	cmd, err := argv(f, *argvFlag)
	if err != nil {
		return err
	}
	c := newClient(f.socket, f.timeout)
	mk := func(n int, kind string) ([][]byte, []string, error) {
		reqs, ids := make([][]byte, n), make([]string, n)
		for i := range n {
			ids[i] = fmt.Sprintf("%s-%s%s-%d", *prefix, kind, e.fig.tag, i)
			if reqs[i], err = runRequest(ids[i], cmd, *prio); err != nil {
				return nil, nil, err
			}
		}
		return reqs, ids, nil
	}
	wreqs, wids, err := mk(*warmup, "w")
	if err != nil {
		return err
	}
	reqs, ids, err := mk(*count, "")
	if err != nil {
		return err
	}
	var started []job
	if len(wreqs) > 0 {
		w := c.load(wreqs, *clients)
		if err := w.report(e.stderr, "warm-up RUN"); err != nil {
			return err
		}
		for i, ok := range w.ok {
			if ok {
				started = append(started, job{id: wids[i]})
			}
		}
	}
	r := c.load(reqs, *clients)
	e.fig.rate(len(r.lat), r.elapsed)
	e.fig.latency(r.lat)
	e.fig.int("err", int64(r.nerr))
	failed := r.report(e.stderr, "RUN")
	for i, ok := range r.ok {
		if ok {
			started = append(started, job{id: ids[i]})
		}
	}
	if !*keep {
		if _, errs, nerr := c.reap(started, false, max(*clients, 8)); nerr > 0 {
			reportReap(e.stderr, "WAIT/REMOVE", errs, nerr)
			return errFailed
		}
	}
	return failed
}

// pingMode: PING latency while N connections sit silent.
func pingMode(e *env, args []string) error {
	f := newFlags(e, "ping", "ping", true)
	silent := f.Int("silent", 50, "connections that send nothing")
	count := f.Int("count", 1000, "timed PING requests")
	clients := f.Int("clients", 1, "concurrent connections")
	warmup := f.Int("warmup", 20, "untimed PING requests first")
	if err := f.parse(args, count, clients); err != nil {
		return err
	}
	if *silent < 0 || *warmup < 0 {
		return usagef("-silent and -warmup must not be negative")
	}
	if f.tag == "" {
		e.fig.tag = fmt.Sprintf("s%d", *silent)
	}
	c := newClient(f.socket, f.timeout)
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range *silent {
		fd, err := c.dial()
		if err != nil {
			return fmt.Errorf("silent connection %d: %w", len(fds), err)
		}
		fds = append(fds, fd)
	}
	ping, _ := encode("PING")
	reqs := func(n int) [][]byte {
		r := make([][]byte, n)
		for i := range r {
			r[i] = ping
		}
		return r
	}
	if *warmup > 0 {
		if err := c.load(reqs(*warmup), *clients).report(e.stderr, "warm-up PING"); err != nil {
			return err
		}
	}
	r := c.load(reqs(*count), *clients)
	e.fig.latency(r.lat)
	e.fig.int("err", int64(r.nerr))
	closed := 0
	for _, fd := range fds {
		if isClosed(fd) {
			closed++
		}
	}
	// Silent connections the daemon dropped meanwhile (it may time them out).
	e.fig.int("silent_closed", int64(closed))
	return r.report(e.stderr, "PING")
}

// holdMode: start N long-lived jobs concurrently and leave them.
func holdMode(e *env, args []string) error {
	f := newFlags(e, "hold", "hold", true)
	count := f.Int("count", 100, "jobs to start")
	clients := f.Int("clients", 8, "concurrent connections")
	prio := f.Int("priority", -1, "priority key (-1: leave out)")
	argvFlag := f.String("argv", "/bin/sleep 3600", "job command, split on white space")
	prefix := f.String("prefix", fmt.Sprintf("hold%d", os.Getpid()), "job id prefix")
	if err := f.parse(args, count, clients); err != nil {
		return err
	}
	cmd, err := argv(f, *argvFlag)
	if err != nil {
		return err
	}
	reqs := make([][]byte, *count)
	for i := range reqs {
		if reqs[i], err = runRequest(fmt.Sprintf("%s-%d", *prefix, i), cmd, *prio); err != nil {
			return err
		}
	}
	r := newClient(f.socket, f.timeout).load(reqs, *clients)
	e.fig.int("ok", int64(len(r.lat)))
	e.fig.int("err", int64(r.nerr))
	e.fig.rate(len(r.lat), r.elapsed)
	return r.report(e.stderr, "RUN")
}

// reqMode: latency of one verb.
func reqMode(e *env, args []string) error {
	f := newFlags(e, "req", "", true)
	verb := f.String("verb", "PING", "verb: LIST, INSPECT, STATS, PING, …")
	id := f.String("id", "", "id key (INSPECT: default the first job LIST shows)")
	count := f.Int("count", 1000, "timed requests")
	clients := f.Int("clients", 1, "concurrent connections")
	warmup := f.Int("warmup", 10, "untimed requests first")
	if err := f.parse(args, count, clients); err != nil {
		return err
	}
	if *warmup < 0 {
		return usagef("-warmup must not be negative")
	}
	*verb = strings.ToUpper(strings.TrimSpace(*verb))
	if e.fig.name == "" {
		e.fig.name = lower(*verb)
	}
	c := newClient(f.socket, f.timeout)
	if *verb == "INSPECT" && *id == "" {
		jobs, err := c.list()
		if err != nil {
			return err
		}
		if len(jobs) == 0 {
			return fmt.Errorf("INSPECT: no job to inspect (LIST is empty); give -id")
		}
		*id = jobs[0].id
	}
	var kv []string
	if *id != "" {
		kv = append(kv, "id", *id)
	}
	req, err := encode(*verb, kv...)
	if err != nil {
		return usagef("%v", err)
	}
	reqs := func(n int) [][]byte {
		r := make([][]byte, n)
		for i := range r {
			r[i] = req
		}
		return r
	}
	if *warmup > 0 {
		if err := c.load(reqs(*warmup), *clients).report(e.stderr, "warm-up "+*verb); err != nil {
			return err
		}
	}
	r := c.load(reqs(*count), *clients)
	e.fig.latency(r.lat)
	e.fig.int("err", int64(r.nerr))
	if r.first != nil {
		e.fig.int("bytes", int64(len(r.first)))
		if n, ok := statusValue(r.first, "count"); ok {
			e.fig.put("count", n)
		}
	}
	return r.report(e.stderr, *verb)
}

// cleanupMode: kill, wait for and remove every (matching) job.
func cleanupMode(e *env, args []string) error {
	f := newFlags(e, "cleanup", "cleanup", true)
	match := f.String("match", "", "only ids starting with this")
	clients := f.Int("clients", 8, "concurrent connections")
	if err := f.parse(args, clients); err != nil {
		return err
	}
	c := newClient(f.socket, f.timeout)
	t0 := time.Now()
	all, err := c.list()
	if err != nil {
		return err
	}
	var jobs []job
	for _, j := range all {
		if strings.HasPrefix(j.id, *match) {
			jobs = append(jobs, j)
		}
	}
	removed, errs, nerr := c.reap(jobs, true, *clients)
	e.fig.int("removed", int64(removed))
	e.fig.int("err", int64(nerr))
	e.fig.float("secs", time.Since(t0).Seconds(), 3)
	if nerr > 0 {
		reportReap(e.stderr, "KILL/WAIT/REMOVE", errs, nerr)
		return errFailed
	}
	return nil
}

// procMode: memory, threads, fds and optionally CPU use of a process.
func procMode(e *env, args []string) error {
	f := newFlags(e, "proc", "daemon", false)
	pid := f.Int("pid", 0, "process id")
	secs := f.Float64("seconds", 0, "measure CPU use over this many seconds")
	if err := f.parse(args, pid); err != nil {
		return err
	}
	if *secs < 0 {
		return usagef("-seconds must not be negative")
	}
	dir := "/proc/" + strconv.Itoa(*pid)
	if *secs > 0 {
		t0 := time.Now()
		c0, err := cpuTicks(dir)
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(*secs * float64(time.Second)))
		c1, err := cpuTicks(dir)
		if err != nil {
			return err
		}
		wall := time.Since(t0)
		cpu := time.Duration(c1-c0) * time.Second / userHZ
		e.fig.int("cpu_ms", cpu.Milliseconds())
		e.fig.float("cpu_pct", 100*cpu.Seconds()/wall.Seconds(), 3)
	}
	st, err := os.ReadFile(dir + "/status")
	if err != nil {
		return err
	}
	for _, k := range []struct{ field, metric string }{
		{"VmRSS", "rss_kb"}, {"VmHWM", "hwm_kb"}, {"Threads", "threads"},
	} {
		if v, ok := statusField(st, k.field); ok {
			e.fig.put(k.metric, v)
		}
	}
	if fds, err := os.ReadDir(dir + "/fd"); err == nil {
		e.fig.int("fds", int64(len(fds)))
	}
	return nil
}

// userHZ is the unit of utime/stime in /proc/<pid>/stat: USER_HZ, which
// the kernel ABI fixes at 100 on every architecture Go supports.
const userHZ = 100

// cpuTicks returns utime+stime of the process (all threads) in USER_HZ.
func cpuTicks(dir string) (int64, error) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime (field 14) and stime (15) of a stat line. The
// command name (field 2) is in parentheses and may hold spaces, so fields
// are counted after its closing parenthesis.
func parseStatCPU(b []byte) (int64, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command field in %q", s)
	}
	fs := strings.Fields(s[i+1:])
	// fs[0] is field 3 (state): utime is fs[11], stime fs[12].
	if len(fs) < 13 {
		return 0, fmt.Errorf("stat: %d fields, want at least 15", len(fs)+2)
	}
	u, err1 := strconv.ParseInt(fs[11], 10, 64)
	k, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", fs[11], fs[12])
	}
	return u + k, nil
}

// statusField returns the first word of "Key:\tvalue kB" in a status file.
func statusField(st []byte, key string) (string, bool) {
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		if w := strings.Fields(v); len(w) > 0 {
			return w[0], true
		}
	}
	return "", false
}
