package daemon

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCrashPoints SIGKILLs the daemon at random points of a random
// workload, CGROUPD_CRASH_ROUNDS times (default 20; the README's figure is
// from 120), some of them in the middle of an upgrade, and upgrades it
// cleanly at others. After every restart it checks that nothing a client
// was told is lost: every job whose RUN was answered is there (unless its
// REMOVE was answered), with the status its WAIT returned; jobs left
// running are still running with the same pid; no job cgroup is
// unaccounted for: a RUN in flight at the crash and never answered left
// either nothing, or a job (its answer was cut; restored from the state
// dir or from its cgroup's mark), or a cgroup the next daemon removes
// (cgroup.stray); a job whose job.start went out is never lost. And across all of it: an automatic id never repeats, each
// job's log holds its own output, and no job sees the hand-over's
// variable. The clients' ids take every shape an id may have (crashID),
// the names the journal once used for its own files among them.
func TestCrashPoints(t *testing.T) {
	rounds := 20
	if s := os.Getenv("CGROUPD_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("CGROUPD_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d (CGROUPD_CRASH_SEED reproduces a run)", seed)

	type want struct {
		live    bool // running when last seen, not killed by us
		pid     string
		ended   bool // WAIT answered
		state   string
		exit    string
		removed bool
		out     string // what its log holds ("": not checked)
	}
	jobs := map[string]*want{}
	logs := t.TempDir()
	args := []string{"-L", logs}
	d := startDaemon(t, args...)
	var acked, kept, lost, strays, upgrades, upgradeCrashes, lostStart int
	var cutKept, cutEnded, cutRemoved, cutNothing int // RUNs in flight at the crash, never answered
	seq := 0
	// A short job prints its token and exits with code, or 99 if it sees
	// the upgrade's variable.
	short := func(token, code string) []string {
		return []string{"sh", "-c", "echo " + token + "; env | grep -q ^CGROUPD_UPGRADE && exit 99; exit " + code}
	}
	for round := 0; round < rounds; round++ {
		ops := 1 + rng.Intn(6)
		crashAt := rng.Intn(ops) // the crash comes with this op
		how := rng.Intn(3)       // 0: with its request in flight, 1: after its answer, 2: in the middle of an upgrade
		var pending string       // a RUN id whose answer the crash may have cut
		for i := 0; i < ops; i++ {
			crash := i == crashAt
			if crash && how == 0 {
				// Send the op, kill the daemon without waiting for the answer.
				seq++
				id := crashID(seq)
				c := d.dial()
				c.Write(encode("RUN", "id", id, "arg", "sleep", "arg", "1000"))
				d.crash()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				c.Close()
				if r := parseResponse(string(buf[:n])); r.Status == "ok" {
					jobs[id] = &want{live: true, pid: r.KV["pid"]}
					acked++
				} else {
					pending = id
				}
				break
			}
			if crash && how == 2 {
				// UPGRADE, and SIGKILL somewhere in it: the preflight, the
				// quiesce, the hand-over, the new image's start.
				c := d.dial()
				c.Write(encode("UPGRADE"))
				time.Sleep(time.Duration(rng.Intn(40)) * time.Millisecond) // the crash point, not a wait
				d.crash()
				c.Close()
				upgradeCrashes++
				break
			}
			switch op := rng.Intn(7); {
			case op <= 1: // a long job
				seq++
				id := crashID(seq)
				r := mustOK(t, d.run(id, []string{"sleep", "1000"}))
				jobs[id] = &want{live: true, pid: r.KV["pid"]}
				acked++
			case op == 2 || op == 5: // a short job, waited on; 5: with an automatic id
				seq++
				id, token, code := crashID(seq), fmt.Sprintf("t%d", seq), strconv.Itoa(rng.Intn(5))
				if op == 5 {
					id = ""
				}
				id = mustOK(t, d.run(id, short(token, code))).KV["id"]
				if jobs[id] != nil {
					t.Errorf("round %d: id %s handed out again", round, id)
					lost++
				}
				w := mustOK(t, d.do("WAIT", "id", id))
				if w.KV["exit"] == "99" {
					t.Errorf("round %d: job %s sees CGROUPD_UPGRADE_FD", round, id)
				}
				jobs[id] = &want{ended: true, state: w.KV["state"], exit: code, out: token}
				acked++
			case op == 3: // kill a live one and wait
				for id, w := range jobs {
					if w.live {
						mustOK(t, d.do("KILL", "id", id))
						r := mustOK(t, d.do("WAIT", "id", id))
						*w = want{ended: true, state: r.KV["state"], exit: r.KV["exit"]}
						break
					}
				}
			case op == 4: // remove an ended one
				for id, w := range jobs {
					if w.ended && !w.removed {
						mustOK(t, d.do("REMOVE", "id", id))
						w.removed = true
						break
					}
				}
			default: // a clean upgrade
				if out, _, code := d.ctl("upgrade"); code != 0 {
					t.Fatalf("round %d: upgrade: exit %d, %q", round, code, out)
				}
				upgrades++
			}
			if crash {
				d.crash()
				break
			}
		}
		old := d
		d = d.restart(args...)
		list := listByID(t, d)
		for id, w := range jobs {
			got, ok := list[id]
			switch {
			case w.removed && ok:
				t.Errorf("round %d: removed job %s is back: %v", round, id, got)
				lost++
			case w.removed:
			case !ok:
				t.Errorf("round %d: job %s lost", round, id)
				lost++
			case w.live && (got["state"] != "running" || got["pid"] != w.pid):
				t.Errorf("round %d: job %s: %v, want running pid %s", round, id, got, w.pid)
				lost++
			case w.ended && (got["state"] != w.state || got["exit"] != w.exit || got["exit_known"] != ""):
				t.Errorf("round %d: job %s: %v, want %s exit %s", round, id, got, w.state, w.exit)
				lost++
			default:
				kept++
			}
			if w.out != "" {
				if got := readFile(t, filepath.Join(logs, id+".log")); got != w.out {
					t.Errorf("round %d: %s.log holds %q, want its own job's %q", round, id, got, w.out)
					lost++
				}
			}
		}
		if pending != "" {
			_, started := old.out.find("job.start", map[string]string{"id": pending})
			switch got := list[pending]; {
			case got != nil && got["state"] == "running":
				cutKept++ // the RUN was done but its answer cut: the job is kept
				jobs[pending] = &want{live: true, pid: got["pid"]}
			case got != nil:
				// Started, its process gone by now: it ended, with its job.exit.
				d.out.waitEvent(t, "job.exit", map[string]string{"id": pending})
				cutEnded++
				jobs[pending] = &want{ended: true, state: got["state"], exit: got["exit"]}
			case started:
				t.Errorf("round %d: job.start of %s went out, but the job is gone", round, pending)
				lostStart++
			default:
				if _, err := os.Stat(filepath.Join(d.root, pending)); err == nil {
					d.out.waitEvent(t, "cgroup.stray", map[string]string{"id": pending})
					pollUntil(t, 10*time.Second, "the stray cgroup to be removed", func() bool {
						_, err := os.Stat(filepath.Join(d.root, pending))
						return os.IsNotExist(err)
					})
					cutRemoved++
				} else {
					cutNothing++
				}
			}
		}
		for _, name := range children(t, d.root) {
			if list[name] != nil || name == daemonLeaf {
				continue
			}
			t.Errorf("round %d: cgroup %s without a job", round, name)
			strays++
		}
	}
	t.Logf("%d crash points (%d in the middle of an upgrade) and %d clean upgrades: %d jobs answered, %d job checks kept, %d lost, %d unaccounted cgroups, %d job.start without a job; RUNs in flight at the crash and never answered: %d kept, %d ended, %d cgroups removed, %d left nothing",
		rounds, upgradeCrashes, upgrades, acked, kept, lost, strays, lostStart, cutKept, cutEnded, cutRemoved, cutNothing)
}

// crashID is the id of TestCrashPoints' job n (from 1): every shape an id
// may take (limits.ValidID), in turn: a leading dot, dots, dashes,
// digits only, 64 characters, and the journal's spare and temp names of
// the version before (.spare-<n>, .<id>.tmp), .spare-1 first.
func crashID(n int) string {
	shapes := []func(k int) string{
		func(k int) string { return fmt.Sprintf(".spare-%d", k) },
		func(k int) string { return fmt.Sprintf("c%d", k) },
		func(k int) string { return fmt.Sprintf(".c%d", k) },
		func(k int) string { return fmt.Sprintf(".c%d.tmp", k) },
		func(k int) string { return fmt.Sprintf("a.b-c.%d", k) },
		func(k int) string { return strconv.Itoa(k) },
		func(k int) string { s := fmt.Sprintf("L%d-", k); return s + strings.Repeat("x", 64-len(s)) },
		func(k int) string { return fmt.Sprintf("..%d", k) },
		func(k int) string { return fmt.Sprintf("-%d.", k) },
		func(k int) string { return fmt.Sprintf("job-%d.log", k) },
	}
	return shapes[(n-1)%len(shapes)]((n-1)/len(shapes) + 1)
}
