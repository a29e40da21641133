package job

import (
	"slices"
	"strings"
	"testing"
	"time"

	"cgroupd/core/cgroup"
	"cgroupd/core/limits"
	"cgroupd/core/spawn"
)

func TestEndState(t *testing.T) {
	for _, tc := range []struct {
		st   spawn.Status
		want string
	}{
		{spawn.Status{}, StateExited},
		{spawn.Status{Exit: 7}, StateFailed},
		{spawn.Status{Exit: 42}, StateFailed},
		{spawn.Status{Signal: 9}, StateKilled},
		{spawn.Status{Signal: 15}, StateFailed},
		{spawn.Status{Signal: 6}, StateFailed},
	} {
		if got := EndState(tc.st); got != tc.want {
			t.Errorf("EndState(%+v): got %s, want %s", tc.st, got, tc.want)
		}
	}
}

func spec(id string) Spec {
	return Spec{ID: id, UID: 1000, GID: 100, Cgroup: cgroup.Dir("/sys/fs/cgroup/r/" + id), Priority: 20,
		Argv: []string{"sh", "-c", "exit 3"}, Settings: []limits.Setting{{Key: "memory_max", Value: "1048576"}},
		ServiceCount: 1, Opts: Opts{RM: true, Timeout: 2 * time.Second, Grace: time.Second}}
}

// A record round-trips through Encode and Decode: every field a restarted
// daemon needs comes back, in the phase it was recorded in.
func TestRecordRoundTrip(t *testing.T) {
	j := Make(spec("a"))
	j.SetLog("/var/log/a.log")
	j.SetOOMGroup(true)
	if err := j.Start(42, "777", time.UnixMilli(10), 5, 4); err != nil {
		t.Fatal(err)
	}
	j.SawOOM(2, 1)
	j.FreezeFor("pressure_memory", time.UnixMilli(11))
	if err := j.MainExited(spawn.Status{Exit: 3}, "", time.UnixMilli(20), 15); err != nil {
		t.Fatal(err)
	}
	if err := j.End(Figures{}); err != nil {
		t.Fatal(err)
	}
	data := Encode(j, "boot")
	got, meta, err := Decode(data, "a", "/sys/fs/cgroup/r")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Phase != Ended || meta.BootID != "boot" {
		t.Errorf("meta %+v, want phase ended, boot_id boot", meta)
	}
	if err := got.Restore(meta.Phase, false, ""); err != nil {
		t.Fatal(err)
	}
	if got.State() != StateFailed || got.Status().Exit != 3 || got.PidStart() != "777" || got.Pid() != 42 ||
		got.Seq() != 4 || got.Log() != "/var/log/a.log" || got.FrozenBy() != "pressure_memory" {
		t.Errorf("decoded %+v does not hold the job", got)
	}
	if s := got.Spec(); !slices.Equal(s.Argv, j.spec.Argv) || !slices.Equal(s.Settings, j.spec.Settings) ||
		s.Opts != j.spec.Opts || s.UID != 1000 || s.GID != 100 || s.Priority != 20 || s.ServiceCount != 1 {
		t.Errorf("decoded spec %+v, want %+v", s, j.spec)
	}
	if g, k, gk := got.OOM(); !g || k != 2 || gk != 1 {
		t.Errorf("decoded oom %v %d %d, want true 2 1", g, k, gk)
	}
	if su, sm, eu, em := got.Times(); su != 10 || sm != 5 || eu != 20 || em != 15 {
		t.Errorf("decoded times %d %d %d %d, want 10 5 20 15", su, sm, eu, em)
	}
	if !slices.Equal(Encode(got, "boot"), data) {
		t.Errorf("re-encoded record differs:\n%s\nwant\n%s", Encode(got, "boot"), data)
	}
}

// A record cut short, with a missing key, another id or another root's
// cgroup is refused with a reason.
func TestRecordRefused(t *testing.T) {
	j := Make(spec("a"))
	j.Start(42, "", time.UnixMilli(10), 5, 1)
	data := Encode(j, "boot")
	for name, tc := range map[string]struct {
		data []byte
		id   string
		root string
		want string
	}{
		"cut short":    {data[:len(data)-3], "a", "/sys/fs/cgroup/r", "truncated"},
		"keys missing": {[]byte(recordMagic + "\nid: a\n" + recordEnd + "\n"), "a", "/sys/fs/cgroup/r", "missing"},
		"another id":   {data, "b", "/sys/fs/cgroup/r", "in the file of b"},
		"another root": {data, "a", "/sys/fs/cgroup/q", "another root"},
		"not a record": {[]byte("hello\n"), "a", "/sys/fs/cgroup/r", "not a cgroupd job record"},
		"bad number":   {[]byte(strings.Replace(string(data), "\nseq: 1\n", "\nseq: x\n", 1)), "a", "/sys/fs/cgroup/r", "seq"},
	} {
		if _, _, err := Decode(tc.data, tc.id, cgroup.Dir(tc.root)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
}

// A pending job a client kills is recorded killed, signal 9: after a
// crash it comes back that way, never as exited with exit 0.
func TestCancelledPendingRecord(t *testing.T) {
	j := Make(spec("p"))
	if err := j.Queue(3, time.UnixMilli(5)); err != nil {
		t.Fatal(err)
	}
	if j.State() != StatePending {
		t.Fatalf("queued job in state %s, want pending", j.State())
	}
	if err := j.Cancel(time.UnixMilli(9), 1); err != nil {
		t.Fatal(err)
	}
	data := Encode(j, "boot")
	if !strings.Contains(string(data), "\nstate: killed\nexit: 0\nsignal: 9\n") {
		t.Fatalf("record of a cancelled pending job:\n%s\nwant state killed, signal 9", data)
	}
	got, meta, err := Decode(data, "p", "/sys/fs/cgroup/r")
	if err != nil {
		t.Fatal(err)
	}
	got.Restore(meta.Phase, false, "")
	if got.State() != StateKilled || got.Status().Signal != 9 || !strings.Contains(strings.Join(WaitKV(got), " "), "state killed exit 0 signal 9") {
		t.Errorf("restored as %s %+v (WAIT %v), want killed, signal 9", got.State(), got.Status(), WaitKV(got))
	}
}

// The lifecycle refuses steps the diagram does not allow, and the state
// follows the phase, the frozen flag and the status.
func TestLifecycle(t *testing.T) {
	j := Make(spec("l"))
	if j.State() != "" {
		t.Errorf("new job in state %q, want none", j.State())
	}
	if err := j.Begin(); err == nil {
		t.Error("new -> starting allowed")
	}
	j = Make(spec("l"))
	j.Start(1, "", time.UnixMilli(1), 1, 1)
	j.SetFrozen(true)
	if j.State() != StateFrozen {
		t.Errorf("got %s, want frozen", j.State())
	}
	j.SetFrozen(false)
	j.MainExited(spawn.Status{Signal: 9}, "", time.UnixMilli(2), 2)
	j.SetFrozen(true) // ignored once main ended
	if j.State() != StateRunning || !j.MainGone() {
		t.Errorf("stopping job: state %s main gone %v, want running, true", j.State(), j.MainGone())
	}
	j.End(Figures{CPUUsec: 5, CPUOK: true})
	if j.State() != StateKilled || !j.IsEnded() {
		t.Errorf("ended job: state %s, want killed", j.State())
	}
	if err := j.Start(1, "", time.UnixMilli(1), 1, 1); err == nil {
		t.Error("ended -> running allowed")
	}
	u := Make(spec("u"))
	u.Restore(Stopping, true, "ended_while_down")
	u.End(Figures{})
	if u.State() != StateFailed || !slices.Equal(UnknownKeys(u), []string{"exit_known", "0", "exit_reason", "ended_while_down"}) {
		t.Errorf("unknown end: state %s keys %v, want failed with exit_known 0", u.State(), UnknownKeys(u))
	}
}

// Time frozen by the engine does not count for --timeout; time frozen by
// a client does.
func TestRanExcludesEngineFreeze(t *testing.T) {
	j := Make(spec("t"))
	t0 := time.Unix(100, 0)
	j.Start(1, "", t0, 1, 1)
	j.FreezeFor("pressure_memory", t0.Add(time.Second))
	if !j.EngineFrozen() {
		t.Fatal("engine freeze not seen")
	}
	j.FreezeFor("", t0.Add(4*time.Second))
	j.FreezeFor(ReasonClient, t0.Add(5*time.Second))
	if got := j.Ran(t0.Add(10 * time.Second)); got != 7*time.Second {
		t.Errorf("ran %v, want 7s (10s less 3s frozen by the engine)", got)
	}
}
