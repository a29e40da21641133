package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
	"cgroupd/core/proto"
	"cgroupd/core/psi"

	"golang.org/x/sys/unix"
)

// dispatch runs one verb. It returns the response to send and close, or
// nil when the handler keeps the connection (WAIT, FREEZE/THAW until
// confirmed, LOGS).
func (srv *Server) dispatch(c *conn, r *proto.Request) []byte {
	if k, ok := r.Repeated(); ok {
		// Strict: a scalar key given twice is ambiguous; refuse it.
		return proto.Err(proto.Cut(k) + ": given more than once").Bytes()
	}
	switch r.Verb {
	case "PING":
		return proto.OK().Add("pong", "1").Bytes()
	case "RUN", "PIPE": // PIPE: RUN with the caller's stdio (pipe.go)
		return srv.doRun(c, r)
	case "LIST":
		return srv.doList(c)
	case "INSPECT":
		return srv.doInspect(c, r)
	case "STATS":
		return srv.doStats(c)
	case "FREEZE":
		return srv.doFreeze(c, r, true)
	case "THAW":
		return srv.doFreeze(c, r, false)
	case "KILL":
		return srv.doKill(c, r)
	case "WAIT":
		return srv.doWait(c, r)
	case "REMOVE":
		return srv.doRemove(c, r)
	case "LOGS":
		return srv.st.doLogs(c, r)
	case "EVENTS":
		return srv.st.doEvents(c, r)
	case "QUIT":
		return srv.doQuit(c)
	case "UPGRADE":
		return srv.doUpgrade(c)
	case "METRICS":
		return srv.cfg.Metrics(proto.OK().Bytes(), func(j *supervisor.Job) bool { return visible(c, j) })
	case "TOP":
		return srv.doTop(c, r) // top.go
	}
	return proto.Err("unknown verb").Add("verb", proto.Cut(r.Verb)).Bytes()
}

// visible: root sees every job, anyone else only their own.
func visible(c *conn, j *supervisor.Job) bool { return c.cred.Uid == 0 || c.cred.Uid == j.Spec().UID }

// lookup finds the job named by the request's id, as the caller may see it.
// A job of another user answers `no such job`, as a missing one does, and
// is logged (audit): who tried what on whose job.
func (srv *Server) lookup(c *conn, r *proto.Request) (*supervisor.Job, []byte) {
	id, _ := r.Get("id")
	j := srv.sup.Get(id)
	if j != nil && !visible(c, j) {
		srv.logf("access refused: uid %d (pid %d) %s job %s of uid %d", c.cred.Uid, c.cred.Pid, r.Verb, j.ID(), j.Spec().UID)
	}
	if j == nil || !visible(c, j) {
		resp := proto.Err("no such job")
		if id != "" {
			resp.Add("id", proto.Cut(id))
		}
		return nil, resp.Bytes()
	}
	return j, nil
}

func (srv *Server) doList(c *conn) []byte {
	all := srv.sup.Jobs() // in start order
	list := make([]*supervisor.Job, 0, len(all))
	for _, j := range all {
		if visible(c, j) {
			list = append(list, j)
		}
	}
	now := time.Now().UnixMilli()
	var out []byte
	for _, j := range list {
		startUnix, _, exitUnix, _ := j.Times()
		var mem, pids uint64
		if !j.IsEnded() && !j.IsPending() {
			// Only live jobs use memory and pids worth reading.
			mem = j.Cgroup().MemoryCurrent()
			pids = j.Cgroup().Uint(cgroup.FilePidsCurrent)
		}
		b := proto.Block().Add("id", j.ID()).Add("state", j.State()).Add("pid", strconv.Itoa(j.Pid())).
			Add("priority", strconv.Itoa(j.Spec().Priority)).Add("exit", strconv.Itoa(j.Status().Exit)).
			Add("signal", strconv.Itoa(j.Status().Signal)).Add("memory_current", u64(mem)).
			Add("pids_current", u64(pids)).Add("age_ms", strconv.FormatInt(j.AgeMs(now), 10)).
			Add("start_unix_ms", strconv.FormatInt(startUnix, 10)).Add("exit_unix_ms", strconv.FormatInt(exitUnix, 10)).
			Add("cgroup", string(j.Cgroup()))
		addKV(b, job.UnknownKeys(supervisor.Model(j)))
		// Appended: who owns it and what it runs (a table at a terminal).
		b.Add("uid", strconv.FormatUint(uint64(j.Spec().UID), 10)).Add("command", proto.Cut(strings.Join(j.Spec().Argv, " ")))
		if !job.CommandKnown(supervisor.Model(j)) {
			b.Add("command_known", "0") // restored from its cgroup's mark alone
		}
		out = append(out, b.Bytes()...)
	}
	return append(out, proto.OK().Add("count", strconv.Itoa(len(list))).Bytes()...)
}

func (srv *Server) doInspect(c *conn, r *proto.Request) []byte {
	j, e := srv.lookup(c, r)
	if j == nil {
		return e
	}
	startUnix, startMono, exitUnix, exitMono := j.Times()
	st, _ := j.Cgroup().Stat() // missing files read as 0; an ended job's cgroup may be gone
	var pids []int
	if !j.IsEnded() && !j.IsPending() {
		pids, _ = j.Cgroup().Procs()
	}
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = strconv.Itoa(p)
	}
	_, oomKills, _ := j.OOM()
	me, meErr := j.Cgroup().MemoryEvents()
	if meErr == nil && me.OOMKill > oomKills {
		oomKills = me.OOMKill
	}
	oom := "0"
	if oomKills > 0 {
		oom = "1"
	}
	// Missing or unreadable: zero (psi_available says whether it means anything).
	mem, _ := psi.ReadFile(filepath.Join(string(j.Cgroup()), "memory.pressure"))
	cpu, _ := psi.ReadFile(filepath.Join(string(j.Cgroup()), "cpu.pressure"))
	io, _ := psi.ReadFile(filepath.Join(string(j.Cgroup()), "io.pressure"))
	_, psiRoot := srv.sup.PSI()
	resp := proto.OK().Add("id", j.ID()).Add("state", j.State()).Add("pid", strconv.Itoa(j.Pid())).
		Add("priority", strconv.Itoa(j.Spec().Priority)).Add("exit", strconv.Itoa(j.Status().Exit)).
		Add("signal", strconv.Itoa(j.Status().Signal)).Add("oom_killed", oom).
		Add("service_count", strconv.Itoa(j.Spec().ServiceCount)).Add("require_path_count", strconv.Itoa(j.Spec().RequireCount)).
		Add("io_max_rule_count", strconv.Itoa(j.Spec().IOMaxCount)).
		Add("memory_current", u64(st.MemoryCurrent)).Add("memory_swap_current", u64(st.MemorySwapCurrent)).
		Add("pids_current", u64(st.PidsCurrent)).Add("cpu_usage_usec", u64(st.CPUUsageUsec)).
		Add("io_rbytes", u64(st.IORBytes)).Add("io_wbytes", u64(st.IOWBytes)).
		Add("oom_kill_count", u64(oomKills)).
		Add("age_ms", strconv.FormatInt(j.AgeMs(time.Now().UnixMilli()), 10)).
		Add("start_mono_ms", strconv.FormatInt(startMono, 10)).Add("exit_mono_ms", strconv.FormatInt(exitMono, 10)).
		Add("start_unix_ms", strconv.FormatInt(startUnix, 10)).Add("exit_unix_ms", strconv.FormatInt(exitUnix, 10)).
		Add("pid_count", strconv.Itoa(len(pids))).Add("pids", strings.Join(ps, ",")).
		Add("cgroup", string(j.Cgroup())).Add("log", j.Log()).
		Add("psi_mem_some_avg10", pct(mem.Some.Avg10)).Add("psi_mem_full_avg10", pct(mem.Full.Avg10)).
		Add("psi_cpu_some_avg10", pct(cpu.Some.Avg10)).
		Add("psi_io_some_avg10", pct(io.Some.Avg10)).Add("psi_io_full_avg10", pct(io.Full.Avg10)).
		Add("psi_available", boolStr(psiRoot))
	resp.Add("uid", u64(uint64(j.Spec().UID))).Add("adopted", boolStr(j.Adopted()))
	addKV(resp, job.UnknownKeys(supervisor.Model(j)))
	// The v1 figures sent as 0 because their file could not be read.
	unknown := ""
	add := func(no bool, keys string) {
		if no {
			unknown += "," + keys
		}
	}
	add(st.NoMemory, "memory_current")
	add(st.NoSwap, "memory_swap_current")
	add(st.NoPids, "pids_current")
	add(st.NoCPU, "cpu_usage_usec")
	add(st.NoIO, "io_rbytes,io_wbytes")
	add(meErr != nil && oomKills == 0, "oom_kill_count")
	if unknown != "" {
		resp.Add("unknown", unknown[1:])
	}
	return resp.Bytes()
}

// addKV appends key, value pairs to a response.
func addKV(r *proto.Response, kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
}

// doStats answers STATS: the spec keys (host avg10 from --host-pressure),
// then the extensions: pending (queued RUNs), dry_run, psi_available (0:
// the kernel measures no pressure, and the spec's psi_* keys, kept as
// 0.00 for v1 parsers, mean nothing), host_mem_total_bytes and
// host_mem_available_bytes (when meminfo is readable), and the pressure
// engine's current measurement of the root over its window,
// pressure_window_ms (0 until two samples are in) and
// pressure_<mem|cpu|io>_<some|full>_pct (absent without PSI in the tree);
// state_writes, state_unlinks and state_errors (the journal's files
// written, deleted, failed: package journal); last the caller's own: user_jobs (its live and pending jobs) and, for a
// caller the ceilings apply to, user_jobs_max and user_priority_max.
func (srv *Server) doStats(c *conn) []byte {
	psiOf := func(res string) psi.PSI { p, _ := srv.sup.HostPSI(res); return p }
	mem, cpu, io := psiOf("memory"), psiOf("cpu"), psiOf("io")
	root := srv.sup.Root()
	running, frozen, pending := srv.sup.Counts()
	psiHost, psiRoot := srv.sup.PSI()
	r := proto.OK().Add("root", string(root)).Add("jobs", strconv.Itoa(srv.sup.Count())).
		Add("running", strconv.Itoa(running)).Add("frozen", strconv.Itoa(frozen)).
		Add("memory_total", u64(root.MemoryCurrent())).
		Add("psi_mem_some_avg10", pct(mem.Some.Avg10)).Add("psi_mem_full_avg10", pct(mem.Full.Avg10)).
		Add("psi_cpu_some_avg10", pct(cpu.Some.Avg10)).
		Add("psi_io_some_avg10", pct(io.Some.Avg10)).Add("psi_io_full_avg10", pct(io.Full.Avg10)).
		Add("pending", strconv.Itoa(pending)).Add("dry_run", boolStr(srv.cfg.DryRun)).
		Add("psi_available", boolStr(psiHost)).
		Add("events_dropped", u64(srv.events.Dropped()))
	if m, ok := srv.sup.HostMem(); ok {
		r.Add("host_mem_total_bytes", u64(m.Total)).Add("host_mem_available_bytes", u64(m.Available))
	}
	if m, ok := srv.sup.Pressure(); ok && psiRoot {
		r.Add("pressure_window_ms", strconv.FormatInt(m.Window.Milliseconds(), 10)).
			Add("pressure_mem_some_pct", pct(m.Memory.Some)).Add("pressure_mem_full_pct", pct(m.Memory.Full)).
			Add("pressure_cpu_some_pct", pct(m.CPU.Some)).Add("pressure_cpu_full_pct", pct(m.CPU.Full)).
			Add("pressure_io_some_pct", pct(m.IO.Some)).Add("pressure_io_full_pct", pct(m.IO.Full))
	}
	if w, u, e, ok := srv.sup.Stats(); ok {
		r.Add("state_writes", u64(w)).Add("state_unlinks", u64(u)).Add("state_errors", u64(e))
	}
	r.Add("user_jobs", strconv.Itoa(srv.sup.UserCount(c.cred.Uid)))
	if !srv.cl.privileged(c) {
		r.Add("user_jobs_max", strconv.Itoa(srv.cfg.MaxUserJobs)).Add("user_priority_max", strconv.Itoa(srv.cfg.MaxUserPriority))
	}
	return r.Bytes()
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// freezeOp is a FREEZE or THAW waiting for cgroup.events to confirm.
type freezeOp struct {
	job      *supervisor.Job
	conn     *conn
	want     bool // frozen 1 (FREEZE) or 0 (THAW)
	deadline time.Time
}

func (srv *Server) doFreeze(c *conn, r *proto.Request, freeze bool) []byte {
	j, e := srv.lookup(c, r)
	if j == nil {
		return e
	}
	if j.IsEnded() || j.MainGone() || j.IsPending() {
		return proto.Err("job not running").Add("id", j.ID()).Add("state", j.State()).Bytes()
	}
	already, err := srv.sup.Freeze(j, freeze)
	if err != nil {
		return proto.Err(err.Error()).Add("id", j.ID()).Add("state", j.State()).Bytes()
	}
	if already {
		// Idempotent (the C tool froze again and reported it twice).
		return proto.OK().Add("id", j.ID()).Add("state", j.State()).Add("already", "1").Bytes()
	}
	if (j.State() == job.StateFrozen) == freeze {
		return proto.OK().Add("id", j.ID()).Add("state", j.State()).Bytes()
	}
	srv.st.freezeQ = append(srv.st.freezeQ, &freezeOp{job: j, conn: c, want: freeze, deadline: time.Now().Add(freezeWait)})
	return nil
}

// resolveFreezeOps answers the FREEZE/THAW requests of j that cgroup.events
// now confirms (or that can no longer be confirmed: the job ended).
func (st *streams) resolveFreezeOps(j *supervisor.Job, frozen bool) {
	kept := st.freezeQ[:0]
	for _, op := range st.freezeQ {
		switch {
		case op.conn.closed:
		case op.job != j:
			kept = append(kept, op)
		case j.IsEnded() || j.MainGone():
			st.srv.reply(op.conn, proto.Err("job not running").Add("id", j.ID()).Add("state", j.State()).Bytes())
		case frozen == op.want:
			st.srv.reply(op.conn, proto.OK().Add("id", j.ID()).Add("state", j.State()).Bytes())
		default:
			kept = append(kept, op)
		}
	}
	clear(st.freezeQ[len(kept):])
	st.freezeQ = kept
}

// expireFreezeOps answers FREEZE/THAW requests the kernel never confirmed.
func (st *streams) expireFreezeOps(now time.Time) {
	if len(st.freezeQ) == 0 {
		return
	}
	kept := st.freezeQ[:0]
	for _, op := range st.freezeQ {
		switch {
		case op.conn.closed:
		case now.After(op.deadline):
			want := "frozen 1"
			if !op.want {
				want = "frozen 0"
			}
			st.srv.reply(op.conn, proto.Err("timed out waiting for "+want).Add("id", op.job.ID()).Add("state", op.job.State()).Bytes())
		default:
			kept = append(kept, op)
		}
	}
	clear(st.freezeQ[len(kept):])
	st.freezeQ = kept
}

// parseSignal validates KILL's signal (default 9).
func parseSignal(s string, ok bool) (int, error) {
	if !ok || s == "" {
		return int(unix.SIGKILL), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 64 {
		return 0, fmt.Errorf("invalid signal %q (want 1..64)", proto.Cut(s))
	}
	return n, nil
}

func (srv *Server) doKill(c *conn, r *proto.Request) []byte {
	j, e := srv.lookup(c, r)
	if j == nil {
		return e
	}
	sig, err := parseSignal(r.Get("signal"))
	if err != nil {
		return proto.Err(err.Error()).Add("id", j.ID()).Bytes()
	}
	if j.IsEnded() {
		return proto.Err("job not running").Add("id", j.ID()).Add("state", j.State()).Bytes()
	}
	if err := srv.sup.Kill(j, sig); err != nil {
		return proto.Err("kill failed").Add("id", j.ID()).Add("detail", err.Error()).Bytes()
	}
	return proto.OK().Add("id", j.ID()).Add("signal", strconv.Itoa(sig)).Bytes()
}

func (srv *Server) doWait(c *conn, r *proto.Request) []byte {
	j, e := srv.lookup(c, r)
	if j == nil {
		return e
	}
	if j.IsEnded() {
		srv.st.replyRecorded(c, waitResponse(j))
		return nil
	}
	srv.st.wait(c, j)
	return nil
}

func (srv *Server) doRemove(c *conn, r *proto.Request) []byte {
	j, e := srv.lookup(c, r)
	if j == nil {
		return e
	}
	pending := j.IsPending()
	err := srv.sup.Remove(j)
	switch {
	case errors.Is(err, supervisor.ErrStillRunning):
		return proto.Err("still running").Add("id", j.ID()).Add("state", j.State()).Bytes()
	case errors.Is(err, supervisor.ErrPopulated):
		return proto.Err("cgroup still populated").Add("id", j.ID()).Bytes()
	case err != nil:
		return proto.Err("remove failed").Add("id", j.ID()).Add("detail", err.Error()).Bytes()
	case pending:
		return proto.OK().Add("id", j.ID()).Bytes()
	}
	// Answered once the record is gone: a removed job never comes back.
	srv.jn.After(func() { srv.reply(c, proto.OK().Add("id", j.ID()).Bytes()) })
	return nil
}

func (srv *Server) doQuit(c *conn) []byte {
	if c.cred.Uid != 0 && int(c.cred.Uid) != srv.cfg.EUID {
		return proto.Err("permission denied").Add("detail", "only root or the daemon's user may stop it").Bytes()
	}
	srv.reply(c, proto.OK().Add("shutting_down", "1").Bytes())
	srv.cfg.Quit()
	return nil
}

func pct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
