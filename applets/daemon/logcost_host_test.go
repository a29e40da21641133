package daemon

// Host tests of what a job's output costs the daemon (issue 33 #11): the
// daemon's CPU while a job writes at full speed, the space a job allocates
// past --log-max-size, LOGS of a sparse log.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// jobCPUUsec is usage_usec of the job's cpu.stat.
func jobCPUUsec(t *testing.T, d *testDaemon, id string) int64 {
	t.Helper()
	for _, l := range strings.Split(readFile(t, filepath.Join(d.root, id, "cpu.stat")), "\n") {
		if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("cpu.stat usage_usec %q", v)
			}
			return n
		}
	}
	t.Fatal("cpu.stat has no usage_usec")
	return 0
}

// A job writing its output at full speed (`yes` for 2 s) into a watched
// log: the daemon spends at most a tenth of the job's CPU on it. The cap
// (100G) is far above what the job writes, so this is the daemon's own
// cost per write (a check per write woke the loop for every write: 0.7 s
// of the daemon's CPU per second of the job's); what freeing a trimmed
// head costs the kernel is a bench figure (scripts/bench.sh, log_cpu_*).
func TestLogWriteCost(t *testing.T) {
	logDir := t.TempDir()
	d := startDaemon(t, "-L", logDir, "--log-max-size", "100G")
	// What the daemon spends over a job's 2 s anyway (ticks, PSI sampling
	// under host pressure, RUN, WAIT) is not the output's cost.
	daemonCPU := func(id string, argv ...string) int64 {
		cpu0 := cpuTicks(t, d.cmd.Process.Pid)
		mustOK(t, d.run(id, append([]string{"timeout", "2"}, argv...)))
		mustOK(t, d.do("WAIT", "id", id))
		return (cpuTicks(t, d.cmd.Process.Pid) - cpu0) * 1e6 / 100
	}
	quietUsec := daemonCPU("quiet", "sleep", "10")
	daemonUsec := daemonCPU("yes", "yes") - quietUsec
	jobUsec := jobCPUUsec(t, d, "yes")
	t.Logf("job CPU %d ms, daemon CPU %d ms over a silent job's %d ms (%.1f %%)", jobUsec/1000, daemonUsec/1000, quietUsec/1000, 100*float64(daemonUsec)/float64(jobUsec))
	if daemonUsec*10 > jobUsec {
		t.Errorf("daemon CPU %d ms for a job's output that cost the job %d ms: want at most a tenth", daemonUsec/1000, jobUsec/1000)
	}
	mustOK(t, d.do("REMOVE", "id", "yes"))
}

// logTail is the last n bytes of the file at p (nil when it has none).
func logTail(t *testing.T, p string, n int64) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, min(n, fi.Size()))
	f.ReadAt(b, fi.Size()-int64(len(b)))
	return b
}

// Space a job allocates in its log past --log-max-size is freed, sparse
// or not: the blocks (st_blocks), not only the size. fallocate with
// KEEP_SIZE puts blocks past the end of file that st_size does not show;
// without it, the file's size grows over allocated, unwritten blocks.
func TestLogAllocatedPastCap(t *testing.T) {
	const cap = 1 << 20
	for _, tc := range []struct{ name, script string }{
		{"past the end", `fallocate -n -l 300M /proc/self/fd/1 && echo allocated`},
		{"extending", `fallocate -l 300M /proc/self/fd/1 && echo allocated`},
		{"below the append offset", `truncate -s 300M /proc/self/fd/1 && head -c 200M /dev/zero | dd of=/proc/self/fd/1 bs=1M conv=notrunc status=none && echo written`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logDir := t.TempDir()
			needPunchHole(t, logDir)
			d := startDaemon(t, "-L", logDir, "--log-max-size", "1M")
			mustOK(t, d.run("alloc", []string{"sh", "-c", tc.script + "; exec sleep 60"}))
			p := filepath.Join(logDir, "alloc.log")
			var used, size int64
			pollUntil(t, 30*time.Second, "the job's allocation", func() bool {
				return bytes.HasSuffix(logTail(t, p, 16), []byte("\n"))
			})
			deadline := time.Now().Add(10 * time.Second)
			for {
				var st unix.Stat_t
				if err := unix.Stat(p, &st); err != nil {
					t.Fatal(err)
				}
				used, size = st.Blocks*512, st.Size
				if used <= cap+64<<10 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("log: size %d, %d bytes on disk (cap %d)", size, used, cap)
			if used > cap+64<<10 {
				t.Errorf("the job's log takes %d bytes on disk 10 s after it allocated them, want at most the cap %d + 64K", used, cap)
			}
			mustOK(t, d.do("KILL", "id", "alloc"))
		})
	}
}

// LOGS of a log the job made sparse (truncate -s 10G) sends its data and
// one line for the hole, not 10 GB of zeros; so does a follower.
func TestLogSparse(t *testing.T) {
	logDir := t.TempDir()
	d := startDaemon(t, "-L", logDir)
	mustOK(t, d.run("sparse", []string{"sh", "-c", `echo head; truncate -s 10G /proc/self/fd/1; echo tail; exec sleep 60`}))
	p := filepath.Join(logDir, "sparse.log")
	pollUntil(t, 10*time.Second, "the job's tail line", func() bool {
		return bytes.Equal(logTail(t, p, 5), []byte("tail\n"))
	})
	holeRE := regexp.MustCompile(`^head\n\x00*\n?\[cgroupd: ([0-9]+) bytes of log skipped \(a hole\)\]\ntail\n$`)
	check := func(what string, body []byte, took time.Duration) {
		t.Helper()
		t.Logf("%s: %d bytes in %v", what, len(body), took.Round(time.Millisecond))
		m := holeRE.FindSubmatch(body)
		if m == nil || len(body) > 16<<10 {
			t.Fatalf("%s: %d bytes starting %q, want head, at most a block of zeros, the hole's line, tail", what, len(body), body[:min(len(body), 80)])
		}
		zeros := bytes.Count(body, []byte{0})
		if n, _ := strconv.ParseInt(string(m[1]), 10, 64); n+int64(zeros)+10 != 10<<30+5 {
			t.Errorf("%s: the hole's line says %d bytes, with %d zeros sent: want them to make up the file", what, n, zeros)
		}
	}
	// Read at most 1 MiB of each stream (before the fix one was 10 GB).
	hdr := "STATUS: ok\nid: sparse\n\n"
	read := func(follow string, want int) ([]byte, time.Duration) {
		t.Helper()
		c := d.dial()
		defer c.Close()
		c.Write(encode("LOGS", "id", "sparse", "follow", follow))
		c.(*net.UnixConn).CloseWrite()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		t0 := time.Now()
		var got []byte
		buf := make([]byte, 64<<10)
		for len(got) < 1<<20 && (want == 0 || len(got) < want) {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if errors.Is(err, io.EOF) && want == 0 {
				break
			}
			if err != nil {
				t.Fatalf("LOGS follow=%s: %v after %d bytes", follow, err, len(got))
			}
		}
		if !bytes.HasPrefix(got, []byte(hdr)) {
			t.Fatalf("LOGS follow=%s: %q", follow, got[:min(len(got), 80)])
		}
		return got[len(hdr):], time.Since(t0)
	}
	body, took := read("0", 0)
	check("logs", body, took)
	body, took = read("1", len(hdr)+len(body))
	check("logs --follow", body, took)
	mustOK(t, d.do("KILL", "id", "sparse"))
}

// --log-retain is per user: another user's many --rm jobs never push
// root's kept log out (issue 33 #12: 1650 of them did).
func TestLogRetainPerUser(t *testing.T) {
	logDir := t.TempDir()
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody), "-L", logDir, "--log-retain", "2")
	mustOK(t, d.run("roots", []string{"echo", "root's"}))
	mustOK(t, d.do("WAIT", "id", "roots"))
	mustOK(t, d.do("REMOVE", "id", "roots"))
	for i := 0; i < 5; i++ {
		if _, errOut, code := d.ctlAs(asNobody, "run", "--rm", "--wait", "--id", "n"+strconv.Itoa(i), "--", "true"); code != 0 {
			t.Fatalf("run --rm as nobody: exit %d: %s", code, errOut)
		}
	}
	pollUntil(t, 10*time.Second, "nobody's jobs removed", func() bool {
		return !strings.Contains(d.do("LIST").Raw, "n4")
	})
	kept := func(id string) bool {
		_, err := os.Stat(filepath.Join(logDir, id+".log"))
		return err == nil
	}
	if !kept("roots") {
		t.Error("root's kept log was pushed out by another user's removed jobs")
	}
	if kept("n0") || kept("n1") || kept("n2") || !kept("n3") || !kept("n4") {
		t.Errorf("nobody's kept logs: n0..n4 %v %v %v %v %v, want the newest 2 (n3 n4)", kept("n0"), kept("n1"), kept("n2"), kept("n3"), kept("n4"))
	}
}
