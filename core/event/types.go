package event

import "slices"

// Types are the event types a daemon emits: EVENTS.md's version 1 types,
// then the extensions. A filter (EVENTS type, cgroupctl events --type)
// naming another one would match nothing, ever, so both refuse it.
// applets/ctl's TestDaemonKeysTyped checks the list against the daemon's
// source.
var Types = []string{
	"job.start", "job.freeze", "job.thaw", "job.kill", "job.oom", "job.throttle", "job.exit", "job.cleanup", "pressure",
	"job.adopt", "daemon.upgrade", "cgroup.unknown", "cgroup.stray", "state.corrupt", "events.dropped",
	"client.drop",
}

// IsType reports whether t is one of Types. Not inlined: one copy of
// the loop serves the client and the daemon.
//
//go:noinline
func IsType(t string) bool { return slices.Contains(Types, t) }
