package ctl

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"cgroupd/core/proto"

	"golang.org/x/sys/unix"
)

func TestFmtBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0B", 512: "512B", 1023: "1023B", 1024: "1KiB", 1536: "1.5KiB", 64 << 20: "64MiB",
		1610612736: "1.5GiB", 524288000: "500MiB", 123 << 30: "123GiB", 1 << 40: "1TiB", 1<<64 - 1: "16EiB",
	} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0ms", 450 * time.Millisecond: "450ms", 3 * time.Second: "3s", 3999 * time.Millisecond: "3s",
		2*time.Minute + 10*time.Second: "2m10s", 2 * time.Minute: "2m", time.Hour + 5*time.Minute + 7*time.Second: "1h5m",
		2 * time.Hour: "2h", 50 * time.Hour: "2d2h", -time.Second: "0ms",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func block(status string, kv ...string) proto.Reply {
	r := proto.Reply{Status: status}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Headers = append(r.Headers, proto.Header{Key: kv[i], Value: kv[i+1]})
	}
	return r
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  proto.Reply
		want []string
	}{
		{"running job", block("", "id", "a", "state", "running", "pid", "1", "exit", "0", "signal", "0",
			"memory_current", "4096", "start_unix_ms", "5", "exit_unix_ms", "0", "exit_mono_ms", "0"),
			[]string{"exit", "exit_mono_ms", "exit_unix_ms", "signal"}},
		{"pending job", block("", "state", "pending", "pid", "0", "memory_current", "0", "pids_current", "0", "start_unix_ms", "0"),
			[]string{"memory_current", "pid", "pids_current", "start_unix_ms"}},
		{"ended job", block("", "state", "failed", "exit", "3", "signal", "0", "memory_current", "0", "exit_unix_ms", "9"),
			[]string{"memory_current"}},
		{"status unknown", block("", "state", "exited", "exit", "0", "signal", "0", "exit_known", "0"),
			[]string{"exit", "signal"}},
		{"no PSI", block("ok", "psi_mem_some_avg10", "0.00", "psi_available", "0", "psi_io_full_avg10", "0.00"),
			[]string{"psi_io_full_avg10", "psi_mem_some_avg10"}},
		{"PSI", block("ok", "psi_mem_some_avg10", "0.00", "psi_available", "1"), nil},
		{"says unknown", block("ok", "run_ms", "unknown", "cpu_usec", "", "oom_kills", "2", "log", ""),
			[]string{"cpu_usec", "run_ms"}},
		{"inspect names what it could not read", block("ok", "state", "running", "memory_swap_current", "0", "io_rbytes", "0",
			"io_wbytes", "0", "cpu_usage_usec", "70", "unknown", "memory_swap_current,io_rbytes,io_wbytes"),
			[]string{"io_rbytes", "io_wbytes", "memory_swap_current", "unknown"}},
		{"wait of an ended job", block("ok", "id", "j", "state", "killed", "exit", "0", "signal", "9", "oom_killed", "1"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for k := range unknownKeys(tc.rep) {
				got = append(got, k)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRefusalLine(t *testing.T) {
	for _, tc := range []struct {
		sub  string
		rep  proto.Reply
		want string
	}{
		{"inspect", block("err", "reason", "no such job", "id", "nope"), "cgroupctl: inspect: no such job: id nope"},
		{"run", block("err", "reason", "spawn failed", "id", "j", "detail", "start /x: no such file or directory"),
			"cgroupctl: run: spawn failed: start /x: no such file or directory, id j"},
		{"remove", block("err", "reason", "still running", "id", "a", "state", "running"),
			"cgroupctl: remove: still running: id a, state running"},
		{"run", block("err", "reason", "admission blocked: memory.some.avg10 3.20 >= 0.00", "id", "job-7"),
			"cgroupctl: run: admission blocked: memory.some.avg10 3.20 >= 0.00: id job-7"},
		{"ping", block("err", "reason", "request timeout"), "cgroupctl: ping: request timeout"},
		{"ping", block("err"), "cgroupctl: ping: refused"},
		{"run", block("err", "reason", "a\nb"), `cgroupctl: run: a\nb`},
	} {
		if got := refusalLine(tc.sub, tc.rep); got != tc.want {
			t.Errorf("refusalLine(%s, %v):\ngot  %q\nwant %q", tc.sub, tc.rep.Headers, got, tc.want)
		}
	}
}

// fakeProc writes /proc/<pid>/{cgroup,status,cmdline} of a process.
func fakeProc(t *testing.T, dir, pid, cgroup, uid string, argv ...string) {
	t.Helper()
	d := filepath.Join(dir, pid)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"cgroup":  "12:memory:/user.slice\n0::" + cgroup + "\n",
		"status":  "Name:\tx\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n",
		"cmdline": strings.Join(argv, "\x00") + "\x00",
	} {
		if err := os.WriteFile(filepath.Join(d, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRenderList: the table, its owner and command from procfs for a live
// job whose pid is still in its cgroup, and from the block when it has
// them (uid, command).
func TestRenderList(t *testing.T) {
	proc := t.TempDir()
	fakeProc(t, proc, "4242", "/cgroupd.slice/build-42", "1000", "make", "-j8", "all")
	fakeProc(t, proc, "4300", "/elsewhere", "0", "reused") // pid reused outside the job
	var jobs []proto.Reply
	_, err := proto.ReadResponse(bufio.NewReader(strings.NewReader(pipedList)), func(r proto.Reply) error {
		if r.Status == "" {
			jobs = append(jobs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs = append(jobs, block("", "id", "queued", "state", "pending", "pid", "0", "priority", "5", "exit", "0", "signal", "0",
		"memory_current", "0", "pids_current", "0", "age_ms", "1500", "start_unix_ms", "0", "exit_unix_ms", "0", "cgroup", "/c/queued",
		"uid", "0", "command", "sleep 10"))
	jobs = append(jobs, block("", "id", "hup", "state", "failed", "pid", "9", "priority", "50", "exit", "0", "signal", "1",
		"memory_current", "0", "pids_current", "0", "age_ms", "3725000", "start_unix_ms", "1000", "exit_unix_ms", "3726000", "cgroup", "/c/hup"))
	names := map[string]string{"0": "root", "1000": "alice"}
	got := renderList(jobs, 0, proc, func(u string) string { return names[u] })
	want := `ID        OWNER  STATE                    PRIO  AGE   RUN    MEM     COMMAND
build-42  alice  running                  20    1m1s  1m1s   1.5GiB  make -j8 all
done-1    -      failed (exit 3)          50    2h    2m10s  -       -
lost      -      exited (status unknown)  50    5s    2s     -       -
queued    root   pending                  5     1s    -      -       sleep 10
hup       -      failed (SIGHUP)          50    1h2m  1h2m   -       -
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A narrow terminal: lines are cut, with a mark.
	for _, l := range strings.Split(strings.TrimSuffix(renderList(jobs, 40, proc, func(u string) string { return names[u] }), "\n"), "\n") {
		if len([]rune(l)) > 40 {
			t.Errorf("line %q is wider than 40 columns", l)
		}
	}
}

// TestTableGolden runs the subcommands of TestPipedGolden with -o table:
// stdout against testdata/ctl/table-<name>.golden, a refusal as one line
// on stderr, the exit status unchanged.
func TestTableGolden(t *testing.T) {
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.UTC
	for _, tc := range pipedTests {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, byVerb(tc.resp))
			var stdout, stderr bytes.Buffer
			code := Run(append([]string{"--socket", d.path, "-o", "table"}, tc.args...), nil, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			got := stdout.String()
			if stderr.Len() > 0 {
				got += "--- stderr\n" + stderr.String()
			}
			path := filepath.Join(goldenDir, "table-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if code == 1 && !strings.Contains(tc.name, "wait") && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr %q: want one line for a refusal", stderr.String())
			}
		})
	}
}

// openPTY returns a pseudo-terminal's master and its slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no pseudo-terminals: " + err.Error())
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// TestTerminalDetection: with stdout a terminal (a pty here) and no -o,
// list is the table; -o text and --json choose explicitly.
func TestTerminalDetection(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the start of what the terminal shows
	}{
		{[]string{"list"}, "ID        OWNER  STATE"},
		{[]string{"-o", "text", "list"}, "id: build-42\n"},
		{[]string{"list", "--json"}, `{"jobs":[{"id":"build-42"`},
		{[]string{"-o", "table", "inspect", "x"}, "id:                   build-42\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			master, slave := openPTY(t)
			d := newFakeDaemon(t, byVerb(map[string]string{"LIST": pipedList, "INSPECT": pipedInspect}))
			var stderr bytes.Buffer
			code := Run(append([]string{"--socket", d.path}, tc.args...), nil, slave, &stderr)
			if code != 0 {
				t.Fatalf("exit %d (stderr %q)", code, stderr.String())
			}
			slave.Close()
			out, _ := io.ReadAll(master) // EIO once the slave is closed and drained
			got := strings.ReplaceAll(string(out), "\r\n", "\n")
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("terminal shows\n%s\nwant it to start with %q", got, tc.want)
			}
		})
	}
}
