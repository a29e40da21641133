package ctl

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Piped output: when stdout is not a terminal (a pipe, a file, a buffer
// as here) every subcommand prints what the C tool printed: the daemon's
// response as received, byte for byte, for scripts that grep and awk it.
// TestPipedGolden runs each subcommand against a fake daemon answering with
// the response shapes of the real one and compares stdout with
// testdata/ctl/piped-<name>.golden. These files were made from the client
// as it was before terminal output existed and must never change: a diff
// here is a broken script somewhere. (stderr is not part of the contract
// and is not compared; JSON has tests of its own in json_test.go.)

// Responses of the real daemon (applets/daemon verbs.go), key for key.
const (
	pipedList = "id: build-42\nstate: running\npid: 4242\npriority: 20\nexit: 0\nsignal: 0\nmemory_current: 1610612736\n" +
		"pids_current: 12\nage_ms: 61234\nstart_unix_ms: 1764495600000\nexit_unix_ms: 0\ncgroup: /sys/fs/cgroup/cgroupd.slice/build-42\n\n" +
		"id: done-1\nstate: failed\npid: 4300\npriority: 50\nexit: 3\nsignal: 0\nmemory_current: 0\n" +
		"pids_current: 0\nage_ms: 7200000\nstart_unix_ms: 1764488400000\nexit_unix_ms: 1764488530000\ncgroup: /sys/fs/cgroup/cgroupd.slice/done-1\n\n" +
		"id: lost\nstate: exited\npid: 4400\npriority: 50\nexit: 0\nsignal: 0\nmemory_current: 0\n" +
		"pids_current: 0\nage_ms: 5000\nstart_unix_ms: 1764495650000\nexit_unix_ms: 1764495652000\ncgroup: /sys/fs/cgroup/cgroupd.slice/lost\n" +
		"exit_known: 0\nexit_reason: ended while no daemon was its parent\n\n" +
		"STATUS: ok\ncount: 3\n\n"
	pipedInspect = "STATUS: ok\nid: build-42\nstate: running\npid: 4242\npriority: 20\nexit: 0\nsignal: 0\noom_killed: 0\n" +
		"service_count: 1\nrequire_path_count: 0\nio_max_rule_count: 0\nmemory_current: 1610612736\nmemory_swap_current: 0\n" +
		"pids_current: 12\ncpu_usage_usec: 61500000\nio_rbytes: 1048576\nio_wbytes: 0\noom_kill_count: 0\nage_ms: 61234\n" +
		"start_mono_ms: 123456\nexit_mono_ms: 0\nstart_unix_ms: 1764495600000\nexit_unix_ms: 0\npid_count: 2\npids: 4242,4250\n" +
		"cgroup: /sys/fs/cgroup/cgroupd.slice/build-42\nlog: /var/log/cgroupd/build-42.log\n" +
		"psi_mem_some_avg10: 3.20\npsi_mem_full_avg10: 0.00\npsi_cpu_some_avg10: 41.07\npsi_io_some_avg10: 0.00\npsi_io_full_avg10: 0.00\n" +
		"psi_available: 1\nuid: 0\nadopted: 0\n\n"
	pipedStats = "STATUS: ok\nroot: /sys/fs/cgroup/cgroupd.slice\njobs: 3\nrunning: 1\nfrozen: 0\nmemory_total: 1612709888\n" +
		"psi_mem_some_avg10: 0.00\npsi_mem_full_avg10: 0.00\npsi_cpu_some_avg10: 3.10\npsi_io_some_avg10: 0.00\npsi_io_full_avg10: 0.00\n" +
		"pending: 0\ndry_run: 0\npsi_available: 1\nevents_dropped: 0\nhost_mem_total_bytes: 25769803776\nhost_mem_available_bytes: 20401094656\n" +
		"pressure_window_ms: 500\npressure_mem_some_pct: 0.00\npressure_mem_full_pct: 0.00\npressure_cpu_some_pct: 12.50\n" +
		"pressure_cpu_full_pct: 0.00\npressure_io_some_pct: 0.00\npressure_io_full_pct: 0.00\n" +
		"state_writes: 7\nstate_unlinks: 2\nstate_errors: 0\nuser_jobs: 1\n\n"
	pipedEvents = "STATUS: ok\nhistory: 2\n\n" +
		"EVENT schema=cgroupd.v1 ts_unix_ms=1764495600000 type=job.start id=build-42 pid=4242 priority=20 cgroup=/sys/fs/cgroup/cgroupd.slice/build-42 uid=0\n" +
		"EVENT schema=cgroupd.v1 ts_unix_ms=1764488530000 type=job.exit id=done-1 state=failed exit=3 signal=0 oom_killed=0 cgroup=/sys/fs/cgroup/cgroupd.slice/done-1 start_unix_ms=1764488400000 exit_unix_ms=1764488530000 run_ms=130000 cpu_usec=1200 uid=0\n"
	pipedWaitEnd = "STATUS: ok\nid: j\nstate: failed\nexit: 7\nsignal: 0\noom_killed: 0\nrun_ms: 1503\ncpu_usec: 2100\n\n"
)

// byVerb answers each request by its verb.
func byVerb(resp map[string]string) func(*net.UnixConn, []byte) error {
	return func(c *net.UnixConn, req []byte) error {
		verb, _, _ := strings.Cut(string(req), "\n")
		_, err := io.WriteString(c, resp[verb])
		return err
	}
}

var pipedTests = []struct {
	name     string
	args     []string
	resp     map[string]string
	wantCode int
}{
	{"ping", []string{"ping"}, map[string]string{"PING": "STATUS: ok\npong: 1\n\n"}, 0},
	{"quit", []string{"quit"}, map[string]string{"QUIT": "STATUS: ok\nshutting_down: 1\n\n"}, 0},
	{"list", []string{"list"}, map[string]string{"LIST": pipedList}, 0},
	{"list-empty", []string{"list"}, map[string]string{"LIST": "STATUS: ok\ncount: 0\n\n"}, 0},
	{"inspect", []string{"inspect", "build-42"}, map[string]string{"INSPECT": pipedInspect}, 0},
	{"inspect-no-such-job", []string{"inspect", "nope"}, map[string]string{"INSPECT": "STATUS: err\nreason: no such job\nid: nope\n\n"}, 1},
	{"stats", []string{"stats"}, map[string]string{"STATS": pipedStats}, 0},
	{"freeze", []string{"freeze", "build-42"}, map[string]string{"FREEZE": "STATUS: ok\nid: build-42\nstate: frozen\n\n"}, 0},
	{"thaw-not-running", []string{"thaw", "done-1"}, map[string]string{"THAW": "STATUS: err\nreason: job not running\nid: done-1\nstate: failed\n\n"}, 1},
	{"kill", []string{"kill", "build-42", "signal", "15"}, map[string]string{"KILL": "STATUS: ok\nid: build-42\nsignal: 15\n\n"}, 0},
	{"wait", []string{"wait", "done-1"}, map[string]string{"WAIT": "STATUS: ok\nid: done-1\nstate: failed\nexit: 3\nsignal: 0\noom_killed: 0\nrun_ms: 130000\ncpu_usec: 1200\n\n"}, 3},
	{"wait-killed", []string{"wait", "k"}, map[string]string{"WAIT": "STATUS: ok\nid: k\nstate: killed\nexit: 0\nsignal: 9\noom_killed: 1\n\n"}, 137},
	{"wait-unknown", []string{"wait", "lost"}, map[string]string{"WAIT": "STATUS: ok\nid: lost\nstate: exited\nexit: 0\nsignal: 0\noom_killed: 0\nexit_known: 0\nexit_reason: ended while no daemon was its parent\n\n"}, 255},
	{"remove", []string{"remove", "done-1"}, map[string]string{"REMOVE": "STATUS: ok\nid: done-1\n\n"}, 0},
	{"remove-still-running", []string{"remove", "build-42"}, map[string]string{"REMOVE": "STATUS: err\nreason: still running\nid: build-42\nstate: running\n\n"}, 1},
	{"run", []string{"run", "--id", "j", "--", "sleep", "1"}, map[string]string{"RUN": "STATUS: ok\nid: j\npid: 42\ncgroup: /sys/fs/cgroup/cgroupd.slice/j\n\n"}, 0},
	{"run-refused", []string{"run", "--id", "j", "--", "/nonexistent"},
		map[string]string{"RUN": "STATUS: err\nreason: spawn failed\nid: j\ndetail: start /nonexistent: no such file or directory\n\n"}, 1},
	{"run-admission", []string{"run", "--", "true"},
		map[string]string{"RUN": "STATUS: err\nreason: admission blocked: memory.some.avg10 3.20 >= 0.00\nid: job-7\n\n"}, 1},
	{"run-wait", []string{"run", "--wait", "--id", "j", "--", "sh", "-c", "exit 7"},
		map[string]string{"RUN": "STATUS: ok\nid: j\npid: 42\ncgroup: /c/j\n\n" + pipedWaitEnd}, 7},
	{"run-attach", []string{"run", "--attach", "--id", "j", "--", "sh", "-c", "echo hi; exit 7"},
		map[string]string{"RUN": "STATUS: ok\nid: j\npid: 42\ncgroup: /c/j\n\n" + pipedWaitEnd, "LOGS": "STATUS: ok\nid: j\n\nhi\n"}, 7},
	{"run-attach-refused", []string{"run", "--attach", "--id", "j", "--", "true"},
		map[string]string{"RUN": "STATUS: err\nreason: id exists\nid: j\n\n"}, 1},
	{"logs", []string{"logs", "j"}, map[string]string{"LOGS": "STATUS: ok\nid: j\n\nline 1\nline 2\n"}, 0},
	{"logs-no-log", []string{"logs", "j"}, map[string]string{"LOGS": "STATUS: err\nreason: no log\nid: j\n\n"}, 1},
	{"events", []string{"events"}, map[string]string{"EVENTS": pipedEvents}, 0},
	{"metrics", []string{"metrics"}, map[string]string{"METRICS": "STATUS: ok\n\n# TYPE cgroupd_jobs gauge\ncgroupd_jobs{state=\"running\"} 1\n"}, 0},
	{"upgrade", []string{"upgrade"}, map[string]string{"UPGRADE": "STATUS: ok\npid: 100\nfrom: v1.2+abc\nto: v1.3+def\n\n"}, 0},
	{"unknown-verb", []string{"upgrade"}, map[string]string{"UPGRADE": "STATUS: err\nreason: unknown verb\nverb: UPGRADE\n\n"}, 1},
}

func TestPipedGolden(t *testing.T) {
	for _, tc := range pipedTests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, byVerb(tc.resp))
			var stdout, stderr bytes.Buffer
			code := Run(append([]string{"--socket", d.path}, tc.args...), nil, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			path := filepath.Join(goldenDir, "piped-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("stdout:\ngot  %q\nwant %q", stdout.String(), want)
			}
		})
	}
}
