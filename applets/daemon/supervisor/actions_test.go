package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/cgroup"
	"cgroupd/core/spawn"
)

// fakeDaemon is a supervisor over a copy of testdata/daemon/cgroupfs/root, with
// events captured; no loop, no socket.
func fakeDaemon(t *testing.T) (*Supervisor, *Job, *bytes.Buffer) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.CopyFS(root, os.DirFS("../../../testdata/daemon/cgroupfs/root")); err != nil {
		t.Fatal(err)
	}
	var ev bytes.Buffer
	d := New(Config{Root: cgroup.Dir(root)}, nil, hub.New(&ev, func() time.Time { return time.UnixMilli(1000) }), nil, nil)
	j := testEntry("job", 1000, d.c.cfg.Root.Child("job"), 10)
	testStart(d, j)
	return d, j, &ev
}

func setEvents(t *testing.T, j *Job, populated, frozen int) {
	t.Helper()
	s := []byte("populated " + string(rune('0'+populated)) + "\nfrozen " + string(rune('0'+frozen)) + "\n")
	if err := os.WriteFile(filepath.Join(string(j.Cgroup()), "cgroup.events"), s, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		name      string
		kind      pressure.Kind
		reason    string
		weight    int
		prep      func(d *Supervisor, j *Job)
		file      string // file written, and its content
		content   string
		event     string // expected event suffix after ts
		wantError bool
	}{
		{name: "freeze by pressure", kind: pressure.Freeze, reason: "pressure_memory", file: "cgroup.freeze", content: "1",
			event: "type=job.freeze id=job reason=pressure_memory cgroup="},
		{name: "thaw what the engine froze", kind: pressure.Thaw, reason: "pressure_receded",
			prep: func(d *Supervisor, j *Job) { j.FreezeFor("pressure_memory", time.Now()) },
			file: "cgroup.freeze", content: "0", event: "type=job.thaw id=job reason=pressure_receded cgroup="},
		{name: "never thaw a client freeze", kind: pressure.Thaw, reason: "pressure_receded",
			prep:      func(d *Supervisor, j *Job) { j.FreezeFor(job.ReasonClient, time.Now()) },
			wantError: true},
		{name: "kill", kind: pressure.Kill, reason: "pressure_memory", file: "cgroup.kill", content: "1",
			event: "type=job.kill id=job signal=9 reason=pressure_memory cgroup="},
		{name: "demote", kind: pressure.Demote, reason: "pressure_cpu", weight: 50, file: "cpu.weight", content: "50",
			event: "type=job.throttle id=job resource=cpu cpu_weight=50 reason=pressure_cpu cgroup="},
		{name: "ended job", kind: pressure.Kill, reason: "pressure_memory",
			prep: func(d *Supervisor, j *Job) { testExit(d, j, spawn.Status{}) }, wantError: true},
		{name: "unknown", kind: pressure.Kind(99), reason: "x", wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, j, ev := fakeDaemon(t)
			if tc.prep != nil {
				tc.prep(d, j)
			}
			err := d.c.act(tc.kind, j, tc.reason, tc.weight)
			if tc.wantError {
				if err == nil {
					t.Fatalf("got nil error, want one")
				}
				if ev.Len() != 0 {
					t.Errorf("got events %q, want none", ev.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if got := readFile(t, filepath.Join(string(j.Cgroup()), tc.file)); got != tc.content {
				t.Errorf("got %s %q, want %q", tc.file, got, tc.content)
			}
			want := "EVENT schema=cgroupd.v1 ts_unix_ms=1000 " + tc.event + string(j.Cgroup()) + " uid=1000\n"
			if ev.String() != want {
				t.Errorf("got events %q, want %q", ev.String(), want)
			}
		})
	}
}

// TestEventsDriveState: cgroup.events changes move the job between running
// and frozen, and populated 0 after the main pid ends finishes it.
func TestEventsDriveState(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	setEvents(t, j, 1, 1)
	d.c.checkEvents(j)
	if j.State() != job.StateFrozen || d.c.nFrozen != 1 || d.c.nRunning != 0 {
		t.Fatalf("got state %s frozen %d running %d, want frozen 1 running 0", j.State(), d.c.nFrozen, d.c.nRunning)
	}
	setEvents(t, j, 1, 0)
	d.c.checkEvents(j)
	if j.State() != job.StateRunning || d.c.nFrozen != 0 || d.c.nRunning != 1 {
		t.Fatalf("got state %s frozen %d running %d, want running", j.State(), d.c.nFrozen, d.c.nRunning)
	}
	// Main ended; the cgroup still has services: no finish yet.
	testExit(d, j, spawn.Status{Exit: 3})
	d.c.checkEvents(j)
	if j.IsEnded() {
		t.Fatalf("job finished while still populated")
	}
	setEvents(t, j, 0, 0)
	d.c.checkEvents(j)
	if !j.IsEnded() || j.State() != job.StateFailed || len(d.c.liveJobs) != 0 || d.c.nRunning != 0 {
		t.Fatalf("got ended %v state %s live %d running %d, want ended failed", j.IsEnded(), j.State(), len(d.c.liveJobs), d.c.nRunning)
	}
	want := "EVENT schema=cgroupd.v1 ts_unix_ms=1000 type=job.exit id=job state=failed exit=3 signal=0 oom_killed=0 cgroup=" +
		string(j.Cgroup()) + " start_unix_ms=10 exit_unix_ms=20 oom_kills=0 uid=1000\n"
	if ev.String() != want {
		t.Errorf("got %q, want %q", ev.String(), want)
	}
	// A second notification changes nothing: exactly one job.exit.
	d.c.checkEvents(j)
	d.c.finish(j)
	if n := strings.Count(ev.String(), "type=job.exit"); n != 1 {
		t.Errorf("got %d job.exit, want 1", n)
	}
}

func TestMemEventsOOM(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	write := func(n string) {
		s := "low 0\nhigh 0\nmax 3\noom 1\noom_kill " + n + "\noom_group_kill 0\n"
		if err := os.WriteFile(filepath.Join(string(j.Cgroup()), "memory.events"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.c.checkMemEvents(j, false) // oom_kill 0: nothing
	write("1")
	d.c.checkMemEvents(j, false)
	d.c.checkMemEvents(j, false) // unchanged: no second event
	write("3")
	d.c.checkMemEvents(j, false)
	want := "EVENT schema=cgroupd.v1 ts_unix_ms=1000 type=job.oom id=job cgroup=" + string(j.Cgroup()) + " oom_kill_count=1 uid=1000\n" +
		"EVENT schema=cgroupd.v1 ts_unix_ms=1000 type=job.oom id=job cgroup=" + string(j.Cgroup()) + " oom_kill_count=3 uid=1000\n"
	if ev.String() != want {
		t.Errorf("got %q, want %q", ev.String(), want)
	}
	// The job then ends by SIGKILL: killed, oom_killed 1.
	testExit(d, j, spawn.Status{Signal: 9})
	setEvents(t, j, 0, 0)
	d.c.checkEvents(j)
	if j.State() != job.StateKilled || !strings.Contains(ev.String(), "state=killed exit=0 signal=9 oom_killed=1") {
		t.Errorf("got state %s, events %q, want killed with oom_killed=1", j.State(), ev.String())
	}
	if r := strings.Join(job.WaitKV(j.model), " "); !strings.Contains(r, "oom_killed 1") {
		t.Errorf("got WAIT %q, want oom_killed: 1", r)
	}
}

func TestCandidates(t *testing.T) {
	d, _, _ := fakeDaemon(t)
	if c := d.c.candidates(30); len(c) != 1 || c[0].ID() != "job" {
		t.Errorf("got candidates %v, want [job]", c)
	}
	if c := d.c.candidates(5); len(c) != 0 {
		t.Errorf("got candidates %v for priority <= 5, want none", c)
	}
}

// The exit of an OOM-killed job is often handled before the memory.events
// notification: job.oom must still be emitted, once, before job.exit.
func TestOOMBeforeExitWhenExitSeenFirst(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	s := "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n"
	if err := os.WriteFile(filepath.Join(string(j.Cgroup()), "memory.events"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	testExit(d, j, spawn.Status{Signal: 9})
	setEvents(t, j, 0, 0)
	d.c.checkEvents(j) // the exit path: finish before any checkMemEvents
	d.c.checkMemEvents(j, false)
	d.c.finish(j)
	got := ev.String()
	if strings.Count(got, "type=job.oom") != 1 || strings.Count(got, "type=job.exit") != 1 {
		t.Fatalf("got %q, want one job.oom and one job.exit", got)
	}
	if strings.Index(got, "type=job.oom") > strings.Index(got, "type=job.exit") {
		t.Errorf("job.oom after job.exit: %q", got)
	}
	if !strings.Contains(got, "oom_killed=1") {
		t.Errorf("job.exit without oom_killed=1: %q", got)
	}
}

// With memory.oom.group one OOM kill raises oom_kill once per process and
// the notification can show it half way: one job.oom per group kill.
func TestOOMGroupKillOneEvent(t *testing.T) {
	d, j, ev := fakeDaemon(t)
	j.SetOOMGroup(true)
	write := func(kill, group string) {
		s := "low 0\nhigh 0\nmax 1\noom 1\noom_kill " + kill + "\noom_group_kill " + group + "\n"
		if err := os.WriteFile(filepath.Join(string(j.Cgroup()), "memory.events"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1", "0") // the first victim, before the kernel counts the group kill
	d.c.checkMemEvents(j, false)
	write("2", "1")
	d.c.checkMemEvents(j, false)
	write("3", "1") // the rest of the group
	d.c.checkMemEvents(j, false)
	testExit(d, j, spawn.Status{Signal: 9})
	setEvents(t, j, 0, 0)
	d.c.checkEvents(j)
	got := ev.String()
	if n := strings.Count(got, "type=job.oom"); n != 1 || !strings.Contains(got, "oom_kill_count=2") {
		t.Errorf("got %q, want one job.oom (oom_kill_count=2)", got)
	}

	// The main process reaped before the group kill was counted: the end
	// reports it.
	d, j, ev = fakeDaemon(t)
	j.SetOOMGroup(true)
	write("1", "0")
	d.c.checkMemEvents(j, false)
	testExit(d, j, spawn.Status{Signal: 9})
	setEvents(t, j, 0, 0)
	d.c.checkEvents(j)
	got = ev.String()
	if strings.Count(got, "type=job.oom") != 1 || strings.Index(got, "type=job.oom") > strings.Index(got, "type=job.exit") {
		t.Errorf("got %q, want one job.oom before job.exit", got)
	}
}
