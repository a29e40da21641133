package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TOP (top.go) and `cgroupctl top` against a real daemon.

func TestTopVerb(t *testing.T) {
	d := startDaemon(t)
	mustOK(t, d.run("spin", []string{"sh", "-c", "while :; do :; done"}, "priority", "40"))
	mustOK(t, d.run("idle", []string{"sleep", "60"}, "priority", "10"))
	// The sampler needs two passes for cpu_pct; poll TOP (each one keeps
	// it running).
	var r response
	pollUntil(t, 15*time.Second, "cpu_pct of spin", func() bool {
		r = d.do("TOP", "sort", "cpu")
		return r.Status == "ok" && len(r.Blocks) == 2 && r.Blocks[0]["cpu_pct"] != ""
	})
	if r.Blocks[0]["id"] != "spin" || r.KV["total"] != "2" || r.KV["count"] != "2" {
		t.Errorf("got %q, want spin first of 2", r.Raw)
	}
	r = d.do("TOP", "sort", "priority", "limit", "1")
	if len(r.Blocks) != 1 || r.Blocks[0]["id"] != "idle" || r.KV["total"] != "2" || r.KV["count"] != "1" {
		t.Errorf("got %q, want only idle (priority 10) of 2", r.Raw)
	}
	// Unknown is absent, never 0: this host's cgroup2 may lack memory.
	if _, err := os.Stat(filepath.Join(d.root, "spin", "memory.current")); err != nil {
		if _, ok := r.Blocks[0]["memory_current"]; ok {
			t.Errorf("memory_current reported without memory.current: %q", r.Raw)
		}
	}
	wantErr(t, d.do("TOP", "sort", "name"), "sort: want memory, cpu, pressure or priority")
}

// top in a terminal: tmux runs it; keys switch the order and q quits.
func TestTopTerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tmux not found under CI=true (Debian package tmux; .ci/run installs it): %v", err)
		}
		t.Skip("tmux not installed (Debian package tmux)")
	}
	d := startDaemon(t)
	for _, j := range []struct{ id, prio string }{{"aaa", "40"}, {"bbb", "10"}, {"ccc", "30"}} {
		mustOK(t, d.run(j.id, []string{"sleep", "60"}, "priority", j.prio))
	}
	server := fmt.Sprintf("cgroupd-test-%d", os.Getpid()) // our own tmux server
	tm := func(args ...string) string {
		out, err := exec.Command(tmux, append([]string{"-L", server}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cmd := fmt.Sprintf("%s --socket %s top -d 200ms; echo TOP-EXIT=$?; read x",
		filepath.Join(binDir, "cgroupctl"), d.sock)
	tm("new-session", "-d", "-s", "top", "-x", "160", "-y", "30", cmd)
	t.Cleanup(func() { exec.Command(tmux, "-L", server, "kill-server").Run() })
	screen := func() string { return tm("capture-pane", "-p", "-t", "top") }
	order := func(s string) string {
		var ids []string
		for _, l := range strings.Split(s, "\n") {
			if f := strings.Fields(l); len(f) > 0 && (f[0] == "aaa" || f[0] == "bbb" || f[0] == "ccc") {
				ids = append(ids, f[0])
			}
		}
		return strings.Join(ids, ",")
	}
	var s string
	// Memory unknown on every job here or not: the default order is by
	// memory, start order among equals; wait for the table.
	pollUntil(t, 10*time.Second, "the top screen", func() bool {
		s = screen()
		return strings.Contains(s, "sort: memory") && len(strings.Split(order(s), ",")) == 3
	})
	tm("send-keys", "-t", "top", "r")
	pollUntil(t, 10*time.Second, "sort by priority", func() bool {
		s = screen()
		return strings.Contains(s, "sort: priority") && order(s) == "bbb,ccc,aaa"
	})
	if !strings.Contains(s, "cgroupd top") || !strings.Contains(s, "PRI STATE") {
		t.Errorf("screen lacks the header:\n%s", s)
	}
	tm("send-keys", "-t", "top", "q")
	pollUntil(t, 10*time.Second, "top to quit", func() bool {
		s = screen()
		return strings.Contains(s, "TOP-EXIT=0")
	})
	if strings.Contains(s, "PRI STATE") {
		t.Errorf("the alternate screen was not left on quit:\n%s", s)
	}
}
