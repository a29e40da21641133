package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"
	"cgroupd/core/hostmem"
	"cgroupd/core/limits"
	"cgroupd/core/proto"
	"cgroupd/core/psi"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// refusal is a RUN refused before anything was created: the protocol
// reason clients match on plus extra keys (detail, ...).
type refusal struct {
	reason string
	kv     []string
}

func (r *refusal) Error() string { return r.reason }

func refuse(reason string, kv ...string) *refusal { return &refusal{reason: reason, kv: kv} }

// runSpec is a validated RUN: everything needed to start the job.
type runSpec struct {
	ID           string
	Argv         []string
	Env          []string
	Cwd          string
	Priority     int
	Settings     []limits.Setting
	Services     []string
	RequirePaths []string
	IOMaxCount   int
	QueueTimeout time.Duration
	Opts         job.Opts // rm, wait, kill_on_detach, timeout (runopts.go)
}

// runEnv is what validation needs from the daemon (so it is testable).
type runEnv struct {
	Env    []string // the daemon's environment
	Cwd    string   // the daemon's working directory
	Taken  func(id string) bool
	NextID *int
	// AsCaller runs the path checks with the caller's rights (nil: as
	// the daemon is); its error means they could not run.
	AsCaller func(func()) error
	// Capped: the caller may request a priority up to Ceiling only, and
	// gets min(50, Ceiling) when it names none.
	Capped  bool
	Ceiling int
}

// parseRun validates a RUN request in the protocol's order, touching
// nothing but stat(2): id, command, limits, priority, queue_timeout, env,
// cwd, require_path. Controller availability, admission and the
// executable are checked by the caller.
func parseRun(r *proto.Request, e runEnv) (*runSpec, *refusal) {
	s := &runSpec{}
	if id, ok := r.Get("id"); ok {
		if err := limits.ValidID(id); err != nil {
			// A cut id (longer than 128 bytes) is as invalid as the whole
			// one, for the same first reason (longer than IDMaxLen), and
			// the reason echoes at most 128 bytes of it.
			if e := limits.ValidID(proto.Cut(id)); e != nil {
				err = e
			}
			return nil, refuse(prefixed("id", err))
		}
		if e.Taken(id) {
			return nil, refuse("id exists", "id", id)
		}
		s.ID = id
	} else {
		s.ID = genID(e.NextID, e.Taken)
	}
	s.Argv = r.All("arg")
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return nil, refuse("no command", "id", s.ID)
	}
	var err error
	if s.Settings, err = limits.Parse(r.Get, r.All); err != nil {
		return nil, refuse(err.Error(), "id", s.ID)
	}
	s.IOMaxCount = len(r.All("io_max"))
	s.Priority = 50
	if e.Capped {
		s.Priority = min(s.Priority, e.Ceiling)
	}
	if p, ok := r.Get("priority"); ok {
		if s.Priority, err = limits.ParsePriority(p); err != nil {
			return nil, refuse(prefixed("priority", err), "id", s.ID)
		}
		if e.Capped && s.Priority > e.Ceiling {
			return nil, refuse(fmt.Sprintf("priority: %d is above %d, the highest a non-root caller may request", s.Priority, e.Ceiling), "id", s.ID)
		}
	}
	if q, ok := r.Get("queue_timeout"); ok {
		if s.QueueTimeout, err = parseTimeout(q); err != nil {
			return nil, refuse("queue_timeout: "+err.Error(), "id", s.ID)
		}
		if s.QueueTimeout <= 0 || s.QueueTimeout > maxQueueTimeout {
			return nil, refuse(fmt.Sprintf("queue_timeout: %v: want more than 0 and at most %v", s.QueueTimeout, maxQueueTimeout), "id", s.ID)
		}
	}
	if rf := parseRunOpts(r, s); rf != nil {
		return nil, rf
	}
	s.Env = append([]string(nil), e.Env...)
	for _, kv := range r.All("env") {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, refuse(fmt.Sprintf("env: want K=V, got %q", proto.Cut(kv)), "id", s.ID)
		}
		s.Env = setEnv(s.Env, kv)
	}
	s.Cwd = e.Cwd
	cwd, hasCwd := r.Get("cwd")
	if hasCwd && !filepath.IsAbs(cwd) {
		cwd = filepath.Join(e.Cwd, cwd)
	}
	s.RequirePaths = r.All("require_path")
	// The paths are the caller's: looked at with its rights, so a check
	// reveals nothing it could not see itself (a file in a directory it
	// cannot search is missing, whether it exists or not).
	var rf *refusal
	check := func() {
		if hasCwd {
			fi, err := os.Stat(cwd)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				rf = refuse("cwd: "+proto.Cut(cwd)+": "+err.Error(), "id", s.ID)
				return
			}
			if !fi.IsDir() {
				rf = refuse("cwd: "+proto.Cut(cwd)+": not a directory", "id", s.ID)
				return
			}
		}
		for _, p := range s.RequirePaths {
			if _, err := os.Stat(p); err != nil {
				rf = refuse("missing path: "+proto.Cut(p), "id", s.ID)
				return
			}
		}
	}
	if e.AsCaller == nil {
		check()
	} else if err := e.AsCaller(check); err != nil {
		return nil, refuse("spawn failed", "id", s.ID, "detail", err.Error())
	}
	if rf != nil {
		return nil, rf
	}
	if hasCwd {
		s.Cwd = cwd
	}
	s.Services = r.All("service")
	for _, svc := range s.Services {
		if strings.TrimSpace(svc) == "" {
			return nil, refuse("service: empty command", "id", s.ID)
		}
	}
	return s, nil
}

// prefixed makes "<key>: <detail>" unless err already starts with key.
func prefixed(key string, err error) string {
	if strings.HasPrefix(err.Error(), key+":") {
		return err.Error()
	}
	return key + ": " + err.Error()
}

// parseTimeout takes a Go duration ("30s") or whole seconds ("30").
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q", proto.Cut(s))
	}
	return d, nil
}

// setEnv sets K=V in env, replacing an existing K.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// errText is an error's text without the Go *PathError op prefix.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// checkControllers refuses settings whose controller is not enabled in
// the root's subtree_control.
func checkControllers(settings []limits.Setting, enabled []string, root string) *refusal {
	on := map[string]bool{}
	for _, c := range enabled {
		on[c] = true
	}
	for _, s := range settings {
		if !on[s.Controller] {
			return refuse(fmt.Sprintf("%s: controller %s not available in %s", s.Key, s.Controller, root))
		}
	}
	return nil
}

// admissionRule is one --*-admit-* threshold.
type admissionRule struct {
	resource  string // memory, cpu, io
	full      bool
	threshold float64
}

func admissionRules(t thresholds) []admissionRule {
	return []admissionRule{
		{"memory", false, t.MemAdmitSome},
		{"memory", true, t.MemAdmitFull},
		{"cpu", false, t.CPUAdmitSome},
		{"io", true, t.IOAdmitFull},
	}
}

// admissionBlock is a refused admission.
type admissionBlock struct {
	Reason   string
	Resource string
	Some     float64
	Full     float64
}

// admission checks host PSI against the thresholds in order and returns
// the first rule that blocks, or nil. read returns a resource's PSI; an
// error (PSI off) skips that resource.
func admission(t thresholds, read func(resource string) (psi.PSI, error)) *admissionBlock {
	cache := map[string]*psi.PSI{}
	for _, r := range admissionRules(t) {
		if r.threshold < 0 {
			continue
		}
		p, ok := cache[r.resource]
		if !ok {
			v, err := read(r.resource)
			if err == nil {
				p = &v
			}
			cache[r.resource] = p
		}
		if p == nil {
			continue
		}
		line, kind := p.Some, "some"
		if r.full {
			line, kind = p.Full, "full"
		}
		if line.Avg10 >= r.threshold {
			return &admissionBlock{
				Reason:   fmt.Sprintf("admission blocked: %s.%s.avg10 %.2f >= %.2f", r.resource, kind, line.Avg10, r.threshold),
				Resource: r.resource, Some: p.Some.Avg10, Full: p.Full.Avg10,
			}
		}
	}
	return nil
}

// admit is the admission rule: refused while the host's memory headroom
// is below the kill threshold of the headroom rule (a job started then
// would only feed the overload the engine is resolving), or while a host
// PSI avg10 is at its admission threshold.
func (d *daemon) admit() *admissionBlock {
	if b := headroomBlock(d.cfg.Th, d.meminfo, d.hostPSI); b != nil {
		return b
	}
	return admission(d.cfg.Th, d.hostPSI)
}

// emitAdmissionReject reports a refused (or expired) RUN of job id. Its
// some_avg10 and full_avg10 are the host's; psi_available=0 says they
// were not measured (a kernel without PSI).
func (d *daemon) emitAdmissionReject(b *admissionBlock, id string) {
	kv := []string{"resource", b.Resource, "some_avg10", pct(b.Some), "full_avg10", pct(b.Full),
		"action", "admission_reject", "target", id}
	if !d.psiHost {
		kv = append(kv, "psi_available", "0")
	}
	d.emit(&hub.Event{Type: "pressure", Job: id, Action: "admission_reject", Resource: b.Resource}, kv...)
}

// headroomBlock refuses admission while MemAvailable is below
// HostMemKill percent (and, with swap, SwapFree below HostSwapKill).
func headroomBlock(t thresholds, mi *hostmem.Reader, read func(resource string) (psi.PSI, error)) *admissionBlock {
	if mi == nil || t.HostMemKill < 0 {
		return nil
	}
	m, err := mi.Read()
	if err != nil {
		return nil
	}
	avail := m.AvailablePct()
	if avail >= t.HostMemKill || (m.SwapTotal > 0 && m.SwapFreePct() >= t.HostSwapKill) {
		return nil
	}
	p, _ := read("memory")
	return &admissionBlock{
		Reason:   fmt.Sprintf("admission blocked: host memory available %.2f%% < %.2f%%", avail, t.HostMemKill),
		Resource: "memory", Some: p.Some.Avg10, Full: p.Full.Avg10,
	}
}

// hostPSI reads the host's pressure file of resource (memory, cpu, io)
// from --host-pressure (/proc/pressure), kept open on procfs (psi.Reader).
func (d *daemon) hostPSI(resource string) (psi.PSI, error) {
	r := d.hostPSIFiles[resource]
	if r == nil {
		if d.hostPSIFiles == nil {
			d.hostPSIFiles = map[string]*psi.Reader{}
		}
		r = psi.NewReader(filepath.Join(d.cfg.HostPressure, resource))
		d.hostPSIFiles[resource] = r
	}
	return r.Read()
}

// credFor decides the identity a caller's job runs as. A root daemon runs
// jobs as the caller (root as root); a non-root daemon can only run jobs
// as itself.
func (d *daemon) credFor(c *conn) (setCred bool, groups []uint32, r *refusal) {
	uid := c.cred.Uid
	if d.euid != 0 {
		if int(uid) != d.euid {
			return false, nil, refuse("permission denied",
				"detail", fmt.Sprintf("daemon runs as uid %d and cannot run jobs as uid %d", d.euid, uid))
		}
		return false, nil, nil
	}
	if uid == 0 {
		return false, nil, nil
	}
	return true, d.groupsOf(uid, c.cred.Gid), nil
}

// groupsOf returns the supplementary groups of uid (from /etc/group
// without cgo); just gid when the lookup fails.
func (d *daemon) groupsOf(uid, gid uint32) []uint32 {
	if g, ok := d.userCache[uid]; ok {
		return g
	}
	out := []uint32{gid}
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			out = out[:0]
			for _, s := range ids {
				if n, err := strconv.ParseUint(s, 10, 32); err == nil {
					out = append(out, uint32(n))
				}
			}
		}
	}
	d.userCache[uid] = out
	return out
}

// doRun validates everything, then creates the cgroup, applies limits,
// starts services and the main argv. Any failure after mkdir undoes it.
//
// A RUN with queue_timeout that admission blocks waits as a pending job
// (queue.go): doRun then returns nil and the reply comes later.
func (d *daemon) doRun(c *conn, r *proto.Request) []byte {
	out, rf := d.run(c, r)
	if rf != nil {
		return rf.response()
	}
	return out
}

// maxReason bounds a RUN refusal's reason and values (doRun).
const maxReason = 2 * proto.MaxEcho

// response is the refusal as an err response. Bounded: a reason or value
// quoting a huge request value (a limit's, argv[0] in a spawn detail) is
// cut; proto.Cut has bounded the rest where they are made.
func (rf *refusal) response() []byte { return rf.resp().Bytes() }

// resp is the refusal as an err response under construction.
func (rf *refusal) resp() *proto.Response {
	resp := proto.Err(proto.CutAt(rf.reason, maxReason))
	for i := 0; i+1 < len(rf.kv); i += 2 {
		resp.Add(rf.kv[i], proto.CutAt(rf.kv[i+1], maxReason))
	}
	return resp
}

// withID puts the job's id first among the refusal's keys.
func (rf *refusal) withID(id string) *refusal {
	rf.kv = append([]string{"id", id}, rf.kv...)
	return rf
}

func (d *daemon) run(c *conn, r *proto.Request) ([]byte, *refusal) {
	if d.quitting {
		return nil, refuse("shutting down")
	}
	setCred, groups, rf := d.credFor(c)
	if rf != nil {
		return nil, rf
	}
	spec, rf := parseRun(r, runEnv{
		Env: d.env, Cwd: d.cwd, NextID: &d.nextID,
		Taken:    func(id string) bool { return d.jobs[id] != nil || d.starting[id] != nil || d.strays[id] },
		AsCaller: func(fn func()) error { return d.asCaller(c, fn) },
		Capped:   !d.privileged(c), Ceiling: d.priorityCeiling(c),
	})
	if rf != nil {
		return nil, rf
	}
	if rf := d.checkUserJobs(c); rf != nil {
		return nil, rf.withID(spec.ID)
	}
	if len(spec.Settings) > 0 {
		enabled, err := d.root.SubtreeControl()
		if err != nil {
			return nil, refuse("cannot read controllers of root", "detail", err.Error()).withID(spec.ID)
		}
		if rf := checkControllers(spec.Settings, enabled, string(d.root)); rf != nil {
			return nil, rf.withID(spec.ID)
		}
	}
	b := d.admit()
	if b != nil && spec.QueueTimeout == 0 {
		d.emitAdmissionReject(b, spec.ID)
		return nil, refuse(b.Reason).withID(spec.ID)
	}
	// The executable is looked up with the caller's rights too.
	var path string
	var err error
	if cerr := d.asCaller(c, func() { path, err = spawn.LookPath(spec.Argv[0], spec.Env, spec.Cwd) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, refuse("spawn failed", "detail", err.Error()).withID(spec.ID)
	}
	if rf := d.checkFDs(spec); rf != nil {
		return nil, rf.withID(spec.ID)
	}
	j := newEntry(job.Make(job.Spec{
		ID: spec.ID, UID: c.cred.Uid, GID: c.cred.Gid, Cgroup: d.root.Child(spec.ID), Priority: spec.Priority,
		Argv: spec.Argv, Settings: spec.Settings, ServiceCount: len(spec.Services), RequireCount: len(spec.RequirePaths),
		IOMaxCount: spec.IOMaxCount, Opts: spec.Opts,
	}))
	if spec.QueueTimeout > 0 && (b != nil || d.queue.Len() > 0) {
		// Blocked, or others are waiting already: queue it (queue.go).
		if b == nil {
			b = &admissionBlock{Reason: "admission blocked: queued behind pending jobs"}
		}
		d.enqueue(c, j, &pendingRun{spec: spec, path: path, setCred: setCred, groups: groups, block: b})
		d.checkQueue(time.Now())
		return nil, nil
	}
	d.spawnJob(j, spec, path, setCred, groups, func(rf *refusal) {
		if rf != nil {
			d.reply(c, rf.withID(spec.ID).response())
			return
		}
		d.replyRun(c, j) // runopts.go: wait: 1 keeps c for the end block
	})
	return nil, nil
}

// checkFDs refuses a job the open file limit has no room for: every job
// holds a pidfd (and one per service) while it runs.
func (d *daemon) checkFDs(spec *runSpec) *refusal {
	if uint64(d.pidfds+d.startingFDs+len(spec.Services)+1+len(d.conns)+fdReserve) >= d.nofile {
		return refuse("too many jobs", "detail", fmt.Sprintf("open file limit %d reached", d.nofile))
	}
	return nil
}

// spawnJob creates j's cgroup, applies the limits and opens the log on the
// loop, then has the spawner start the services and the main argv (off the
// loop); done runs on the loop with nil once j is a running job
// (job.start), or with the refusal (without the id key) after everything
// was undone. j is new, or a pending job whose turn came.
func (d *daemon) spawnJob(j *entry, spec *runSpec, path string, setCred bool, groups []uint32, done func(*refusal)) {
	if rf := d.checkFDs(spec); rf != nil {
		done(rf)
		return
	}
	cg := j.Cgroup()
	if err := cg.Create(); err != nil {
		if errors.Is(err, fs.ErrExist) {
			done(refuse("id exists", "detail", "cgroup "+string(cg)+" exists"))
		} else {
			done(refuse("spawn failed", "detail", "mkdir: "+err.Error()))
		}
		return
	}
	var logf *os.File
	cgfd := -1
	undo := func(rf *refusal, started []int) {
		if logf != nil {
			logf.Close()
		}
		if cgfd >= 0 {
			unix.Close(cgfd)
		}
		if j.Log() != "" {
			// A refused RUN leaves nothing behind, not even a log.
			if err := d.logs.Remove(j.Log()); err != nil {
				d.debugf("job %s: %v", j.ID(), err)
			}
			j.SetLog("")
		}
		d.unwatch(j, &j.wdEvents)
		d.unwatch(j, &j.wdMem)
		d.unwatch(j, &j.wdLog)
		j.services = nil
		d.abandon(cg, started)
		done(rf)
	}
	for _, s := range spec.Settings {
		if err := cg.Write(s.File, s.Value); err != nil {
			undo(refuse(fmt.Sprintf("%s: %v", s.Key, err)), nil)
			return
		}
	}
	if err := d.watchCgroup(j); err != nil {
		undo(refuse("too many jobs", "detail", err.Error()), nil)
		return
	}
	if !j.noMemory {
		if ok, err := setOOMGroup(cg); err != nil {
			d.debugf("job %s: %v", j.ID(), err)
		} else {
			j.SetOOMGroup(ok)
		}
	}
	if d.logs != nil {
		var p string
		var err error
		logf, p, err = d.logs.Create(spec.ID)
		if err != nil {
			logf = nil
			undo(refuse("spawn failed", "detail", "log: "+err.Error()), nil)
			return
		}
		j.SetLog(p)
		if setCred {
			if err := logf.Chown(int(j.Spec().UID), int(j.Spec().GID)); err != nil {
				undo(refuse("spawn failed", "detail", "log: "+err.Error()), nil)
				return
			}
		}
		if err := d.logStarted(j); err != nil {
			undo(refuse("too many jobs", "detail", "watch log: "+err.Error()), nil)
			return
		}
	}
	var err error
	if cgfd, err = cg.OpenDir(); err != nil {
		cgfd = -1
		undo(refuse("spawn failed", "detail", "open cgroup: "+err.Error()), nil)
		return
	}
	mk := func(path string, argv []string) *spawn.Cmd {
		return &spawn.Cmd{
			Path: path, Argv: argv, Env: spec.Env, Dir: spec.Cwd,
			SetCred: setCred, Uid: j.Spec().UID, Gid: j.Spec().GID, Groups: groups,
			Stdout: logf, Stderr: logf,
			CgroupFD: cgfd, CgroupPath: string(cg), Fallback: d.cfg.SpawnFallback, Self: d.self,
		}
	}
	req := &spawnReq{adj: jobOOMScoreAdj(j.Spec().Priority, j.Spec().UID == 0)}
	for _, svc := range spec.Services {
		req.cmds = append(req.cmds, mk("/bin/sh", []string{"/bin/sh", "-c", svc}))
	}
	req.cmds = append(req.cmds, mk(path, spec.Argv))
	nfd := len(req.cmds)
	d.starting[j.ID()] = j
	d.startingFDs += nfd
	req.done = func(r *spawnReq) {
		delete(d.starting, j.ID())
		d.startingFDs -= nfd
		var started []int
		for _, p := range r.procs {
			started = append(started, p.PidFD)
		}
		if r.err != nil {
			what := "spawn failed"
			detail := r.err.Error()
			if len(r.procs) < len(spec.Services) {
				detail = "service: " + detail
			}
			undo(refuse(what, "detail", detail), started)
			d.maybeDone()
			return
		}
		main := r.procs[len(r.procs)-1]
		if err := d.lp.Add(main.PidFD, unix.EPOLLIN, func(uint32) { d.onMainExit(j); d.maybeDone() }); err != nil {
			undo(refuse("spawn failed", "detail", "epoll: "+err.Error()), started)
			d.maybeDone()
			return
		}
		logf.Close() // nil-safe: the processes hold their own copies
		unix.Close(cgfd)
		d.started(j, r.procs, r.mainStart)
		done(nil) // replyRun answers once the job is on record (journal.go)
		if d.quitting {
			// Started while the daemon shuts down: it goes with the rest.
			if err := d.killJob(j, int(unix.SIGKILL), reasonShutdown); err != nil {
				d.logf("shutdown: kill job %s: %v", j.ID(), err)
			}
		}
	}
	d.spawner.submit(req)
}

// watchCgroup watches j's cgroup.events and, where the memory controller
// has it, memory.events (j.noMemory where it has not); the error names the
// file it could not watch.
func (d *daemon) watchCgroup(j *entry) error {
	if err := d.watchFile(j, filepath.Join(string(j.Cgroup()), cgroup.FileEvents), watchEvents, &j.wdEvents); err != nil {
		return fmt.Errorf("watch cgroup.events: %w", err)
	}
	err := d.watchFile(j, filepath.Join(string(j.Cgroup()), cgroup.FileMemoryEvents), watchMemEvents, &j.wdMem)
	j.noMemory = errors.Is(err, unix.ENOENT)
	if err != nil && !j.noMemory {
		return fmt.Errorf("watch memory.events: %w", err)
	}
	return nil
}

// started makes j a running job with its processes (services first, main
// last, whose pidfd the loop already watches): job table, job.start.
func (d *daemon) started(j *entry, procs []spawn.Proc, mainStart string) {
	main := procs[len(procs)-1]
	for _, sp := range procs[:len(procs)-1] {
		s := &service{pid: sp.Pid, pidfd: sp.PidFD}
		j.services = append(j.services, s)
		d.pidfds++
		if err := d.lp.Add(s.pidfd, unix.EPOLLIN, func(uint32) { d.onServiceExit(j, s) }); err != nil {
			d.logf("job %s: epoll add service: %v", j.ID(), err)
		}
	}
	j.pidfd = main.PidFD
	d.pidfds++
	now := time.Now()
	if j.Seq() == 0 {
		d.seq++
	}
	d.jobs[j.ID()] = j
	d.liveJobs[j] = struct{}{}
	d.advance(j, func(m *job.Job) error { return m.Start(main.Pid, mainStart, now, monoMs(), d.seq) })
	d.emitJob(&hub.Event{Type: "job.start"}, j, "id", j.ID(), "pid", strconv.Itoa(j.Pid()), "priority", strconv.Itoa(j.Spec().Priority), "cgroup", string(j.Cgroup()))
	d.jobStarted(j, now) // runopts.go: timeout
}

// abandon undoes a RUN that failed after mkdir: kill what started, rmdir.
// Nothing waits: each killed process is reaped when its pidfd says it
// exited, and a cgroup that is not empty yet is removed then (or on the
// housekeeping tick); it never becomes a job.
func (d *daemon) abandon(cg cgroup.Dir, pidfds []int) {
	if len(pidfds) > 0 {
		if err := d.killCgroup(cg); err != nil {
			d.debugf("abandon %s: kill: %v", cg, err)
		}
		for _, fd := range pidfds {
			d.reapLater(fd)
		}
	}
	if err := cg.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.debugf("abandon %s: %v; retrying later", cg, err)
		d.graves = append(d.graves, cg)
	}
}

// reapLater reaps the child behind pidfd once it has exited, then retries
// the cgroups of refused RUNs. A pidfd the loop cannot watch is reaped on
// the housekeeping tick.
func (d *daemon) reapLater(fd int) {
	done := func() bool {
		if _, ok, err := spawn.Reap(fd); !ok && err == nil {
			return false
		}
		unix.Close(fd)
		return true
	}
	if done() {
		return
	}
	err := d.lp.Add(fd, unix.EPOLLIN, func(uint32) {
		if _, ok, err := spawn.Reap(fd); !ok && err == nil {
			return // spurious wake-up
		}
		d.lp.Remove(fd)
		unix.Close(fd)
		d.retryGraves()
	})
	if err != nil {
		d.unreaped = append(d.unreaped, fd)
	}
}

// retryGraves removes cgroups of refused RUNs that were still emptying,
// and reaps what reapLater could not watch.
func (d *daemon) retryGraves() {
	kept := d.unreaped[:0]
	for _, fd := range d.unreaped {
		if _, ok, err := spawn.Reap(fd); !ok && err == nil {
			kept = append(kept, fd)
			continue
		}
		unix.Close(fd)
	}
	d.unreaped = kept
	d.removeGraves()
}

func (d *daemon) removeGraves() {
	kept := d.graves[:0]
	for _, cg := range d.graves {
		if err := cg.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			kept = append(kept, cg)
		}
	}
	d.graves = kept
}
