// Package runreq validates a RUN: the request's keys, in the protocol's
// order, into the Spec the server hands the supervisor (with the caller's
// identity beside it). It touches nothing but stat(2), with the caller's
// rights.
package runreq

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/limits"
	"cgroupd/core/proto"
	"cgroupd/core/spawn"
)

// Spec is a validated RUN: everything needed to start the job.
type Spec struct {
	ID           string
	Argv         []string
	Env          []string
	Cwd          string
	Priority     int
	Settings     []limits.Setting
	Services     []string
	RequirePaths []string
	IOMaxCount   int
	Rlimits      []spawn.Rlimit
	QueueTimeout time.Duration
	Opts         job.Opts // rm, wait, kill_on_detach, timeout
}

// Env is what validation needs from the daemon (so it is testable).
type Env struct {
	Env   []string // the daemon's environment
	Cwd   string   // the daemon's working directory
	Taken func(id string) bool
	NewID func() string // the next automatic id
	// AsCaller runs the path checks with the caller's rights (nil: as
	// the daemon is); its error means they could not run.
	AsCaller func(func()) error
	// Capped: the caller may request a priority up to Ceiling only, and
	// gets min(50, Ceiling) when it names none.
	Capped  bool
	Ceiling int
	// Rlimits: what the job starts with unless it asks otherwise;
	// UlimitMax (with Capped): the most it may ask.
	Rlimits, UlimitMax []spawn.Rlimit
}

// Parse validates a RUN request in the protocol's order, touching
// nothing but stat(2): id, command, limits, priority, queue_timeout, env,
// cwd, require_path. Controller availability, admission and the
// executable are checked by the caller.
func Parse(r *proto.Request, e Env) (*Spec, *supervisor.Refusal) {
	s := &Spec{}
	if id, ok := r.Get("id"); ok {
		if err := limits.ValidID(id); err != nil {
			// A cut id (longer than 128 bytes) is as invalid as the whole
			// one, for the same first reason (longer than IDMaxLen), and
			// the reason echoes at most 128 bytes of it.
			if e := limits.ValidID(proto.Cut(id)); e != nil {
				err = e
			}
			return nil, supervisor.Refuse(prefixed("id", err))
		}
		if e.Taken(id) {
			return nil, supervisor.Refuse("id exists", "id", id)
		}
		s.ID = id
	} else {
		s.ID = e.NewID()
	}
	s.Argv = r.All("arg")
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return nil, supervisor.Refuse("no command", "id", s.ID)
	}
	var err error
	if s.Settings, err = limits.Parse(r.Get, r.All); err != nil {
		return nil, supervisor.Refuse(err.Error(), "id", s.ID)
	}
	s.IOMaxCount = len(r.All("io_max"))
	if rf := tooMany("io_max", s.IOMaxCount, maxIOMaxRules, s.ID); rf != nil {
		return nil, rf
	}
	s.Priority = 50
	if e.Capped {
		s.Priority = min(s.Priority, e.Ceiling)
	}
	if p, ok := r.Get("priority"); ok {
		if s.Priority, err = limits.ParsePriority(p); err != nil {
			return nil, supervisor.Refuse(prefixed("priority", err), "id", s.ID)
		}
		if e.Capped && s.Priority > e.Ceiling {
			return nil, supervisor.Refuse(fmt.Sprintf("priority: %d is above %d, the highest a non-root caller may request", s.Priority, e.Ceiling), "id", s.ID)
		}
	}
	if q, ok := r.Get("queue_timeout"); ok {
		if s.QueueTimeout, err = parseTimeout(q); err != nil {
			return nil, supervisor.Refuse("queue_timeout: "+err.Error(), "id", s.ID)
		}
		if s.QueueTimeout <= 0 || s.QueueTimeout > supervisor.MaxQueueTimeout {
			return nil, supervisor.Refuse(fmt.Sprintf("queue_timeout: %v: want more than 0 and at most %v", s.QueueTimeout, supervisor.MaxQueueTimeout), "id", s.ID)
		}
	}
	if rf := parseOpts(r, s); rf != nil {
		return nil, rf
	}
	var rf *supervisor.Refusal
	if s.Rlimits, rf = parseUlimits(r.All("ulimit"), e, s.ID); rf != nil {
		return nil, rf
	}
	if s.Env, rf = mergeEnv(e.Env, r.All("env"), s.ID); rf != nil {
		return nil, rf
	}
	s.Cwd = e.Cwd
	cwd, hasCwd := r.Get("cwd")
	if hasCwd && !filepath.IsAbs(cwd) {
		cwd = filepath.Join(e.Cwd, cwd)
	}
	s.RequirePaths = r.All("require_path")
	if rf := tooMany("require_path", len(s.RequirePaths), maxRequirePaths, s.ID); rf != nil {
		return nil, rf
	}
	// The paths are the caller's: looked at with its rights, so a check
	// reveals nothing it could not see itself (a file in a directory it
	// cannot search is missing, whether it exists or not).
	check := func() {
		if hasCwd {
			fi, err := os.Stat(cwd)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				rf = supervisor.Refuse("cwd: "+proto.Cut(cwd)+": "+err.Error(), "id", s.ID)
				return
			}
			if !fi.IsDir() {
				rf = supervisor.Refuse("cwd: "+proto.Cut(cwd)+": not a directory", "id", s.ID)
				return
			}
		}
		for _, p := range s.RequirePaths {
			if _, err := os.Stat(p); err != nil {
				rf = supervisor.Refuse("missing path: "+proto.Cut(p), "id", s.ID)
				return
			}
		}
	}
	if e.AsCaller == nil {
		check()
	} else if err := e.AsCaller(check); err != nil {
		return nil, supervisor.Refuse("spawn failed", "id", s.ID, "detail", err.Error())
	}
	if rf != nil {
		return nil, rf
	}
	if hasCwd {
		s.Cwd = strings.Clone(cwd)
	}
	s.Services = r.All("service")
	if rf := tooMany("service", len(s.Services), maxServices, s.ID); rf != nil {
		return nil, rf
	}
	for _, svc := range s.Services {
		if strings.TrimSpace(svc) == "" {
			return nil, supervisor.Refuse("service: empty command", "id", s.ID)
		}
	}
	// The request's strings are parts of one copy of it (proto.Parse):
	// what the job keeps is copied out, so a job does not keep the
	// whole request alive.
	s.ID = strings.Clone(s.ID)
	for _, ss := range [][]string{s.Argv, s.Env, s.Services, s.RequirePaths} {
		for i := range ss {
			ss[i] = strings.Clone(ss[i])
		}
	}
	return s, nil
}

// The most of each repeatable key a RUN may give beyond argv and env:
// each costs the loop a check (a stat, a cgroup write) or the spawner a
// process, so a count without a bound would let one request hold up every
// other client; no real job comes near them.
const (
	maxRequirePaths = 1024
	maxServices     = 64
	maxIOMaxRules   = 256
)

// parseUlimits is the limits a job starts with: e.Rlimits with each
// ulimit value (NAME=SOFT[:HARD], a later one for a resource winning) in
// its resource's place. A capped caller may ask a hard limit up to
// e.UlimitMax's for the resource, or the default's where that names none
// (as a login session may lower a limit, or raise its soft one up to the
// hard one); its defaults are lowered to that ceiling.
func parseUlimits(asked []string, e Env, id string) ([]spawn.Rlimit, *supervisor.Refusal) {
	rl := e.Rlimits
	ceiling := spawn.Lower(e.Rlimits, nil) // a copy
	if e.Capped {
		for i := range ceiling {
			ceiling[i].Cur = ceiling[i].Max
		}
		for _, m := range e.UlimitMax {
			ceiling = setRlimit(ceiling, m)
		}
		rl = spawn.Lower(rl, e.UlimitMax)
	}
	for _, v := range asked {
		u, err := spawn.ParseUlimit(v)
		if err != nil {
			return nil, supervisor.Refuse("ulimit: "+err.Error(), "id", id)
		}
		if e.Capped {
			for _, c := range ceiling {
				if c.Resource == u.Resource && u.Max > c.Max {
					return nil, supervisor.Refuse(fmt.Sprintf("ulimit: %s hard limit %s is above %s, the most a non-root caller may ask (--max-user-ulimit)",
						spawn.UlimitName(u.Resource), spawn.FormatLimit(u.Max), spawn.FormatLimit(c.Max)), "id", id)
				}
			}
		}
		rl = setRlimit(rl, u)
	}
	return rl, nil
}

// setRlimit is rl with u in place of its resource's limit (appended when
// rl has none).
func setRlimit(rl []spawn.Rlimit, u spawn.Rlimit) []spawn.Rlimit {
	out := append([]spawn.Rlimit(nil), rl...)
	for i := range out {
		if out[i].Resource == u.Resource {
			out[i] = u
			return out
		}
	}
	return append(out, u)
}

// tooMany refuses n values of key above max.
func tooMany(key string, n, max int, id string) *supervisor.Refusal {
	if n <= max {
		return nil
	}
	return supervisor.Refuse(fmt.Sprintf("%s: given %d times, at most %d", key, n, max), "id", id)
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

// mergeEnv is base with every K=V of kvs set in order (a later K
// replaces an earlier one in place): linear in the count, so a RUN with
// 40 000 env lines costs what reading them does.
func mergeEnv(base, kvs []string, id string) ([]string, *supervisor.Refusal) {
	env := append(make([]string, 0, len(base)+len(kvs)), base...)
	at := make(map[string]int, len(env)+len(kvs)) // K: its index in env
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, dup := at[k]; !dup {
			at[k] = i
		}
	}
	for _, kv := range kvs {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, supervisor.Refuse(fmt.Sprintf("env: want K=V, got %q", proto.Cut(kv)), "id", id)
		}
		if i, ok := at[k]; ok {
			env[i] = kv
			continue
		}
		at[k] = len(env)
		env = append(env, kv)
	}
	return env, nil
}

// errText is an error's text without the Go *PathError op prefix.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// RUN's timeout keys: timeout at most maxRunTimeout, timeout_grace
// defaultTimeoutGrace when not given.
const (
	maxRunTimeout       = 365 * 24 * time.Hour
	defaultTimeoutGrace = 10 * time.Second
)

// parseOpts reads the extension keys into s (Parse calls it).
func parseOpts(r *proto.Request, s *Spec) *supervisor.Refusal {
	flag := func(key string) (bool, *supervisor.Refusal) {
		v, ok := r.Get(key)
		switch {
		case !ok || v == "0":
			return false, nil
		case v == "1":
			return true, nil
		}
		return false, supervisor.Refuse(fmt.Sprintf("%s: want 0 or 1, got %q", key, proto.Cut(v)), "id", s.ID)
	}
	o := &s.Opts
	var rf *supervisor.Refusal
	if o.RM, rf = flag("rm"); rf != nil {
		return rf
	}
	if o.Wait, rf = flag("wait"); rf != nil {
		return rf
	}
	o.Wait = o.Wait || r.Verb == "PIPE" // it waits as wait: 1 does
	if o.KillOnDetach, rf = flag("kill_on_detach"); rf != nil {
		return rf
	}
	if o.KillOnDetach && !o.Wait {
		return supervisor.Refuse("kill_on_detach: needs wait: 1 (a connection to detach from)", "id", s.ID)
	}
	dur := func(key string, min time.Duration) (time.Duration, bool, *supervisor.Refusal) {
		v, ok := r.Get(key)
		if !ok {
			return 0, false, nil
		}
		d, err := parseTimeout(v)
		if err != nil {
			return 0, true, supervisor.Refuse(key+": "+err.Error(), "id", s.ID)
		}
		if d < min || d > maxRunTimeout {
			return 0, true, supervisor.Refuse(fmt.Sprintf("%s: %v: want at least %v and at most %v", key, d, min, maxRunTimeout), "id", s.ID)
		}
		return d, true, nil
	}
	var err *supervisor.Refusal
	if o.Timeout, _, err = dur("timeout", time.Millisecond); err != nil {
		return err
	}
	g, set, err := dur("timeout_grace", 0)
	if err != nil {
		return err
	}
	o.Grace = defaultTimeoutGrace
	if set {
		o.Grace = g
	}
	return nil
}
