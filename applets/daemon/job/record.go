package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/limits"
	"cgroupd/core/spawn"
)

// A job's record is what a daemon started after a crash or an upgrade
// needs to know the job again: "key: value" lines between a magic first
// line and an end line (a record cut short lacks it). Encode and Decode
// are the one place its keys are named; a new field is added to both here.

const (
	recordMagic = "cgroupd-job: 1"
	recordEnd   = "end: 1"
)

// Encode is j's record; bootID names the boot it was written in.
func Encode(j *Job, bootID string) []byte { return encode(j, bootID, true) }

// EncodeMark is j's record without its argv: the mark on its cgroup
// (supervisor/mark.go), which every local user can read, holds only what
// adoption needs; the command lives in the 0600 record alone. A job
// decoded from it has no argv: its command is unknown (CommandKnown).
// A mark written before (the whole record) decodes as a record.
func EncodeMark(j *Job, bootID string) []byte { return encode(j, bootID, false) }

// recordWriter writes a record's "key: value" lines. Its methods are not
// closures on purpose: closures were inlined at each of encode's forty
// call sites (26 KB of code in a binary with a size limit).
type recordWriter struct{ b strings.Builder }

//go:noinline
func (w *recordWriter) kv(k, v string) {
	w.b.WriteString(k)
	w.b.WriteString(": ")
	w.b.WriteString(v)
	w.b.WriteByte('\n')
}

func (w *recordWriter) i64(k string, v int64)  { w.kv(k, strconv.FormatInt(v, 10)) }
func (w *recordWriter) u64(k string, v uint64) { w.kv(k, strconv.FormatUint(v, 10)) }

func encode(j *Job, bootID string, args bool) []byte {
	w := &recordWriter{}
	b := &w.b
	kv, i64, u64 := w.kv, w.i64, w.u64
	s := &j.spec
	b.WriteString(recordMagic + "\n")
	kv("id", s.ID)
	kv("phase", j.phase.String())
	kv("boot_id", bootID)
	u64("seq", j.seq)
	u64("uid", uint64(s.UID))
	u64("gid", uint64(s.GID))
	i64("priority", int64(s.Priority))
	kv("cgroup", string(s.Cgroup))
	if j.log != "" {
		kv("log", j.log)
	}
	i64("pid", int64(j.pid))
	if j.pidStart != "" {
		kv("pid_start", j.pidStart)
	}
	i64("start_unix_ms", j.startUnix)
	i64("start_mono_ms", j.startMono)
	i64("service_count", int64(s.ServiceCount))
	i64("require_path_count", int64(s.RequireCount))
	i64("io_max_rule_count", int64(s.IOMaxCount))
	kv("oom_group", flag(j.oomGroup))
	u64("oom_kill_count", j.oomKillCount)
	u64("oom_group_count", j.oomGroupCount)
	if j.frozenBy != "" {
		kv("frozen_by", j.frozenBy)
	}
	if s.Opts.RM {
		kv("rm", "1")
	}
	if s.Opts.Timeout > 0 {
		i64("timeout_ms", s.Opts.Timeout.Milliseconds())
		i64("timeout_grace_ms", s.Opts.Grace.Milliseconds())
	}
	for _, a := range s.Argv {
		if !args {
			break
		}
		kv("arg", a)
	}
	for _, l := range s.Settings {
		kv("limit", l.Key+"="+l.Value)
	}
	if j.phase >= Stopping {
		kv("state", j.EndState())
		i64("exit", int64(j.status.Exit))
		i64("signal", int64(j.status.Signal))
		if j.exitUnknown != "" {
			kv("exit_unknown", j.exitUnknown)
		}
		i64("exit_unix_ms", j.exitUnix)
		i64("exit_mono_ms", j.exitMono)
	}
	b.WriteString(recordEnd + "\n")
	return []byte(b.String())
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Meta is what a record says beside the job itself.
type Meta struct {
	Phase  Phase  // the phase it was recorded in: running, stopping or ended
	BootID string // the boot it was written in
}

// Decode reads the record of job id under root. The job it returns is in
// phase new, with everything the record holds; Restore puts it in the
// recorded phase. A record cut short, of another id or root, with a
// missing key or a malformed number is refused with the reason.
func Decode(data []byte, id string, root cgroup.Dir) (*Job, Meta, error) {
	var m Meta
	if err := limits.ValidID(id); err != nil {
		return nil, m, err
	}
	rec, err := parse(data)
	if err != nil {
		return nil, m, err
	}
	if rec.get("id") != id {
		return nil, m, fmt.Errorf("id %q in the file of %s", rec.get("id"), id)
	}
	j := &Job{spec: Spec{ID: id, Cgroup: root.Child(id)}}
	s := &j.spec
	if rec.get("cgroup") != string(s.Cgroup) {
		return nil, m, fmt.Errorf("cgroup %s is not %s (another root's record?)", rec.get("cgroup"), s.Cgroup)
	}
	var errs []error
	num := func(k string) int64 {
		n, err := rec.int(k)
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	opt := func(k string) int64 { n, _ := rec.int(k); return n }
	j.seq = uint64(num("seq"))
	s.UID, s.GID = uint32(num("uid")), uint32(num("gid"))
	s.Priority = int(num("priority"))
	j.pid = int(num("pid"))
	j.startUnix, j.startMono = opt("start_unix_ms"), opt("start_mono_ms")
	s.ServiceCount, s.RequireCount, s.IOMaxCount = int(opt("service_count")), int(opt("require_path_count")), int(opt("io_max_rule_count"))
	// Copies: a substring would keep the whole file alive.
	j.log = strings.Clone(rec.get("log"))
	j.oomGroup = rec.get("oom_group") == "1"
	j.oomKillCount, j.oomGroupCount = uint64(opt("oom_kill_count")), uint64(opt("oom_group_count"))
	j.frozenBy = strings.Clone(rec.get("frozen_by"))
	j.pidStart = strings.Clone(rec.get("pid_start"))
	s.Opts.RM = rec.get("rm") == "1"
	s.Opts.Timeout = time.Duration(opt("timeout_ms")) * time.Millisecond
	s.Opts.Grace = time.Duration(opt("timeout_grace_ms")) * time.Millisecond
	for _, a := range rec["arg"] {
		s.Argv = append(s.Argv, strings.Clone(a))
	}
	for _, l := range rec["limit"] {
		k, v, _ := strings.Cut(strings.Clone(l), "=")
		s.Settings = append(s.Settings, limits.Setting{Key: k, Value: v})
	}
	m.BootID = strings.Clone(rec.get("boot_id"))
	p, _ := ParsePhase(rec.get("phase"))
	switch p {
	case Running:
	case Stopping, Ended:
		j.status = spawn.Status{Exit: int(num("exit")), Signal: int(num("signal"))}
		j.exitUnknown = strings.Clone(rec.get("exit_unknown"))
		j.exitUnix, j.exitMono = opt("exit_unix_ms"), opt("exit_mono_ms")
	default:
		return nil, m, fmt.Errorf("phase %q", rec.get("phase"))
	}
	if len(errs) > 0 {
		return nil, m, errs[0]
	}
	m.Phase = p
	return j, m, nil
}

// Restore puts a decoded job in phase p: the recorded one, or stopping
// for a running job whose process ended while no daemon watched, with
// unknown saying why its status is not known. notChild: an adopted
// job, not the daemon's child. Its timeout counts from its recorded start.
func (j *Job) Restore(p Phase, notChild bool, unknown string) error {
	if unknown != "" {
		j.status, j.exitUnknown = spawn.Status{}, unknown
	}
	j.adopted = notChild
	j.startT = time.UnixMilli(j.startUnix)
	return j.to(p)
}

// record is a parsed record: its values by key, in order.
type record map[string][]string

func (r record) get(k string) string {
	if v := r[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r record) int(k string) (int64, error) {
	v := r.get(k)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", k, v)
	}
	return n, nil
}

// parse checks the framing of a record and splits its lines.
func parse(data []byte) (record, error) {
	s := string(data)
	if !strings.HasPrefix(s, recordMagic+"\n") {
		return nil, errors.New("not a cgroupd job record")
	}
	if !strings.HasSuffix(s, "\n"+recordEnd+"\n") {
		return nil, errors.New("truncated (no end line)")
	}
	body := strings.TrimSuffix(strings.TrimPrefix(s, recordMagic+"\n"), recordEnd+"\n")
	r := record{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || k == "" {
			return nil, fmt.Errorf("malformed line %q", line)
		}
		r[k] = append(r[k], v)
	}
	for _, k := range []string{"id", "phase", "cgroup", "pid", "seq", "uid", "gid", "priority"} {
		if len(r[k]) == 0 {
			return nil, fmt.Errorf("missing %s", k)
		}
	}
	return r, nil
}
