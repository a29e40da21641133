package daemon

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cgroupd/core/proto"
)

// The RUN extension keys rm, wait, timeout, timeout_grace (runopts.go)
// against the real kernel.

func TestRunRm(t *testing.T) {
	d := startDaemon(t)
	r := mustOK(t, d.run("rm1", []string{"sh", "-c", "sleep 0.3; exit 3"}, "rm", "1"))
	cg := r.KV["cgroup"]
	w := parseResponse(d.rawRequest(encode("WAIT", "id", "rm1")))
	if w.Status != "ok" || w.KV["exit"] != "3" || w.KV["state"] != "failed" {
		t.Fatalf("got WAIT %q, want exit 3 state failed", w.Raw)
	}
	// Answered waiters, then removed: nothing left.
	d.out.waitEvent(t, "job.cleanup", map[string]string{"id": "rm1", "result": "removed"})
	wantErr(t, d.do("INSPECT", "id", "rm1"), "no such job")
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still there after rm (stat: %v)", cg, err)
	}
	if got := children(t, d.root); len(got) != 0 {
		t.Errorf("got cgroups %v under the root, want none", got)
	}
	ex := d.out.waitEvent(t, "job.exit", map[string]string{"id": "rm1"})
	if ex["run_ms"] == "" || atoi(ex["run_ms"]) < 250 {
		t.Errorf("got job.exit run_ms %q, want >= 250", ex["run_ms"])
	}
	if _, ok := ex["cpu_usec"]; !ok {
		t.Errorf("job.exit has no cpu_usec (cpu.stat is always there): %v", ex)
	}

	// Bad values are refused before anything is created.
	for _, kv := range [][]string{{"rm", "yes"}, {"timeout", "soon"}, {"timeout", "0"}, {"kill_on_detach", "1"}} {
		rr := d.run("bad", []string{"true"}, kv...)
		if rr.Status != "err" || !strings.HasPrefix(rr.KV["reason"], kv[0]+":") {
			t.Errorf("RUN with %v: got %q, want an err naming %s", kv, rr.Raw, kv[0])
		}
		wantErr(t, d.do("INSPECT", "id", "bad"), "no such job")
	}
}

// A wait: 1 RUN gets its ok block, then the end block on the same
// connection; an rm job stays until that connection closes.
func TestRunWaitHoldsRm(t *testing.T) {
	d := startDaemon(t)
	c := d.dial()
	defer c.Close()
	c.Write(encode("RUN", "id", "w1", "rm", "1", "wait", "1", "arg", "sh", "arg", "-c", "arg", "echo hi; exit 7"))
	c.(interface{ CloseWrite() error }).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	first, err := proto.ReadBlock(br)
	if err != nil || !first.IsOK() {
		t.Fatalf("first block %q: %v", first.Raw, err)
	}
	end, err := proto.ReadBlock(br)
	if err != nil || !end.IsOK() {
		t.Fatalf("end block %q: %v", end.Raw, err)
	}
	if v, _ := end.Get("exit"); v != "7" {
		t.Errorf("got end block %q, want exit 7", end.Raw)
	}
	if _, ok := end.Get("run_ms"); !ok {
		t.Errorf("end block %q has no run_ms", end.Raw)
	}
	// Held: the job is still there while the connection is open.
	mustOK(t, d.do("INSPECT", "id", "w1"))
	c.Close()
	d.out.waitEvent(t, "job.cleanup", map[string]string{"id": "w1", "result": "removed"})
	wantErr(t, d.do("INSPECT", "id", "w1"), "no such job")
}

func TestRunTimeout(t *testing.T) {
	d := startDaemon(t)
	t.Run("term", func(t *testing.T) {
		// The job traps SIGTERM and exits 5: failed, exit 5.
		mustOK(t, d.run("t1", []string{"sh", "-c", `trap "exit 5" TERM; while :; do sleep 0.05; done`},
			"timeout", "300ms", "timeout_grace", "5s"))
		w := parseResponse(d.rawRequest(encode("WAIT", "id", "t1")))
		if w.KV["state"] != "failed" || w.KV["exit"] != "5" || w.KV["signal"] != "0" {
			t.Errorf("got WAIT %q, want failed exit 5", w.Raw)
		}
		k := d.out.waitEvent(t, "job.kill", map[string]string{"id": "t1"})
		if k["signal"] != "15" || k["reason"] != "timeout" {
			t.Errorf("got job.kill %v, want signal 15 reason timeout", k)
		}
		if n := atoi(w.KV["run_ms"]); n < 300 || n > 4000 {
			t.Errorf("got run_ms %d, want about 300", n)
		}
	})
	t.Run("kill", func(t *testing.T) {
		// SIGTERM ignored: SIGKILL after the grace; killed, signal 9.
		mustOK(t, d.run("t2", []string{"sh", "-c", `trap "" TERM; while :; do sleep 0.05; done`},
			"timeout", "200ms", "timeout_grace", "300ms"))
		w := parseResponse(d.rawRequest(encode("WAIT", "id", "t2")))
		if w.KV["state"] != "killed" || w.KV["signal"] != "9" {
			t.Errorf("got WAIT %q, want killed signal 9", w.Raw)
		}
		// The event lines reach the test through a reader of the daemon's
		// stderr: the answer to WAIT can come first.
		d.out.waitEvent(t, "job.kill", map[string]string{"id": "t2", "signal": "9"})
		var sigs []string
		for _, e := range d.out.events("job.kill") {
			if e["id"] == "t2" {
				if e["reason"] != "timeout" {
					t.Errorf("got job.kill %v, want reason timeout", e)
				}
				sigs = append(sigs, e["signal"])
			}
		}
		if strings.Join(sigs, ",") != "15,9" {
			t.Errorf("got job.kill signals %v, want 15 then 9", sigs)
		}
		if n := atoi(w.KV["run_ms"]); n < 500 {
			t.Errorf("got run_ms %d, want >= 500 (timeout + grace)", n)
		}
	})
	t.Run("ends in time", func(t *testing.T) {
		mustOK(t, d.run("t3", []string{"true"}, "timeout", "1h"))
		w := parseResponse(d.rawRequest(encode("WAIT", "id", "t3")))
		if w.KV["state"] != "exited" {
			t.Errorf("got WAIT %q, want exited", w.Raw)
		}
	})
	if _, err := os.Stat(filepath.Join(d.root, "t1")); err != nil {
		t.Errorf("t1 without rm must stay until REMOVE: %v", err)
	}
}
