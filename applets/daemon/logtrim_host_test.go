package daemon

import (
	"bytes"
	"fmt"
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

// seqOutput is what `seq 1 n` prints.
func seqOutput(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// needPunchHole fails the test unless dir's filesystem frees the blocks of
// a punched hole (ext4, xfs, btrfs and tmpfs do).
func needPunchHole(t *testing.T, dir string) {
	t.Helper()
	f, err := os.CreateTemp(dir, "punch")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 1<<20); err != nil {
		t.Fatalf("the filesystem of %s cannot punch holes (--log-max-size needs it): %v", dir, err)
	}
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	if st.Blocks != 0 || st.Size != 1<<20 {
		t.Fatalf("punched 1 MiB file in %s: %d blocks, size %d; want 0 blocks, size 1 MiB", dir, st.Blocks, st.Size)
	}
}

var markerRE = regexp.MustCompile(`^\[cgroupd: ([0-9]+) bytes of log dropped \(--log-max-size\)\]\n`)

// checkStream checks a LOGS body against the job's whole output: pieces of
// it in order, with a marker line for every gap, ending at the end. The
// daemon puts a newline before a marker when the last byte it sent was not
// one; which newline is output shows from where the output resumes: at a
// trim offset, a multiple of blk. It returns the number of markers and the
// bytes of output sent.
func checkStream(t *testing.T, body, want []byte, blk int64) (markers int, sent int64) {
	t.Helper()
	var pos int64
	for len(body) > 0 {
		end, next := len(body), len(body)
		var n int64
		var m [][]byte
		if i := bytes.Index(body, []byte("[cgroupd: ")); i >= 0 {
			end, next = i, i
			if m = markerRE.FindSubmatch(body[i:]); m == nil {
				t.Fatalf("LOGS body at output offset %d: a broken marker %q", pos, body[i:min(len(body), i+60)])
			}
			n, _ = strconv.ParseInt(string(m[1]), 10, 64)
			if n <= 0 {
				t.Fatalf("marker at output offset %d drops %d bytes", pos, n)
			}
			if (pos+int64(i)+n)%blk != 0 && i > 0 && body[i-1] == '\n' {
				end = i - 1 // the newline was the marker's
			}
		}
		if pos+int64(end) > int64(len(want)) || !bytes.Equal(body[:end], want[pos:pos+int64(end)]) {
			k := 0
			for k < end && pos+int64(k) < int64(len(want)) && body[k] == want[pos+int64(k)] {
				k++
			}
			t.Fatalf("LOGS body at output offset %d: %d bytes that are not the job's output there: first difference at +%d: got %q", pos, end, k, body[max(k-20, 0):min(end, k+40)])
		}
		pos += int64(end)
		sent += int64(end)
		body = body[next:]
		if m != nil {
			if pos += n; pos%blk != 0 {
				t.Fatalf("output resumes at %d after a marker, not at a trim offset (a multiple of %d)", pos, blk)
			}
			body = body[len(m[0]):]
			markers++
		}
	}
	if pos != int64(len(want)) {
		t.Fatalf("LOGS ended at output offset %d, want %d", pos, len(want))
	}
	return markers, sent
}

func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// A job writing ~100 MB under --log-max-size 1M: the file's disk usage
// stays within the cap, LOGS shows a marker and the retained tail, and a
// follower overtaken by the trim gets a marker for what it missed and every
// byte after it.
func TestLogMaxSize(t *testing.T) {
	logDir := t.TempDir()
	needPunchHole(t, logDir)
	const cap = 1 << 20
	d := startDaemon(t, "-L", logDir, "--log-max-size", "1M")
	const n = 13000000
	want := seqOutput(n)
	if len(want) < 100e6 {
		t.Fatalf("seq output %d bytes, want >= 100 MB", len(want))
	}
	logPath := filepath.Join(logDir, "big.log")
	gate := filepath.Join(t.TempDir(), "go")
	mustOK(t, d.run("big", []string{"sh", "-c", `while [ ! -e "$1" ]; do sleep 0.01; done; exec seq 1 ` + strconv.Itoa(n), "sh", gate}))

	// A follower that reads nothing until 20 MB were written: its socket
	// buffer fills, the trim overtakes it.
	c := d.dial()
	defer c.Close()
	c.Write(encode("LOGS", "id", "big", "follow", "1"))
	c.(*net.UnixConn).CloseWrite()
	hdr := make([]byte, len("STATUS: ok\nid: big\n\n"))
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c, hdr); err != nil || string(hdr) != "STATUS: ok\nid: big\n\n" {
		t.Fatalf("LOGS --follow header %q, %v", hdr, err)
	}

	cpu0 := cpuTicks(t, d.cmd.Process.Pid)
	t0 := time.Now()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var maxUsed int64
	pollUntil(t, 60*time.Second, "20 MB written", func() bool {
		var st unix.Stat_t
		if unix.Stat(logPath, &st) != nil {
			return false
		}
		maxUsed = max(maxUsed, st.Blocks*512)
		return st.Size >= 20e6
	})
	followed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		followed <- b
	}()
	r := mustOK(t, d.do("WAIT", "id", "big"))
	el := time.Since(t0)
	cpu := cpuTicks(t, d.cmd.Process.Pid) - cpu0
	if r.KV["exit"] != "0" {
		t.Fatalf("seq exited %s", r.KV["exit"])
	}
	var st unix.Stat_t
	if err := unix.Stat(logPath, &st); err != nil {
		t.Fatal(err)
	}
	used := st.Blocks * 512
	t.Logf("%d bytes written in %v; file size %d, disk usage %d (cap %d, max seen while writing %d); daemon CPU %d ticks",
		len(want), el.Round(time.Millisecond), st.Size, used, cap, maxUsed, cpu)
	if st.Size != int64(len(want)) {
		t.Errorf("log size %d, want %d (the job's append offset)", st.Size, len(want))
	}
	if used > cap+64<<10 {
		t.Errorf("log uses %d bytes on disk, want <= cap %d + 64K", used, cap)
	}

	// LOGS: the marker, then the tail of at least half the cap.
	out, errOut, code := d.ctl("logs", "big")
	if code != 0 {
		t.Fatalf("cgroupctl logs big: exit %d, %s", code, errOut)
	}
	m := markerRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cgroupctl logs big starts %q, want the dropped-bytes marker", out[:min(len(out), 80)])
	}
	dropped, _ := strconv.Atoi(m[1])
	tail := out[len(m[0]):]
	if dropped+len(tail) != len(want) || tail != string(want[dropped:]) {
		t.Errorf("logs: marker says %d dropped, then %d bytes; want the last %d bytes of the output", dropped, len(tail), len(want)-dropped)
	}
	if len(tail) < cap/2 || len(tail) > cap {
		t.Errorf("logs: %d bytes retained, want between cap/2 and cap", len(tail))
	}
	t.Logf("cgroupctl logs: marker for %d bytes, then the last %d bytes", dropped, len(tail))

	var body []byte
	select {
	case body = <-followed:
	case <-time.After(60 * time.Second):
		t.Fatal("LOGS --follow did not end after the job ended")
	}
	markers, sent := checkStream(t, body, want, int64(st.Blksize))
	if markers == 0 {
		t.Errorf("the follower was never overtaken by a trim (no marker in %d bytes)", len(body))
	}
	t.Logf("logs --follow: %d bytes, %d markers, %d bytes of output sent", len(body), markers, sent)
	mustOK(t, d.do("REMOVE", "id", "big"))
}

// --log-retain N keeps the logs of the newest N removed jobs of a user (and counts
// logs found at start); a running job's log is never pruned.
func TestLogRetain(t *testing.T) {
	logDir := t.TempDir()
	old := filepath.Join(logDir, "old.log")
	other := filepath.Join(logDir, "notes.txt")
	os.WriteFile(old, []byte("from an earlier daemon\n"), 0o644)
	os.WriteFile(other, []byte("not a log\n"), 0o644)
	d := startDaemon(t, "-L", logDir, "--log-retain", "2")
	exists := func(id string) bool {
		_, err := os.Stat(filepath.Join(logDir, id+".log"))
		return err == nil
	}
	runRemove := func(id string) {
		t.Helper()
		mustOK(t, d.run(id, []string{"echo", id}))
		mustOK(t, d.do("WAIT", "id", id))
		mustOK(t, d.do("REMOVE", "id", id))
	}
	runRemove("a")
	if !exists("old") || !exists("a") {
		t.Fatalf("after one removal: old %v a %v, want both", exists("old"), exists("a"))
	}
	// b running: its log is not a removed job's, nothing is pruned for it.
	mustOK(t, d.run("b", []string{"sleep", "30"}))
	runRemove("c")
	if exists("old") || !exists("a") || !exists("c") || !exists("b") {
		t.Errorf("after a, c removed (b running): old %v a %v b %v c %v, want a b c only", exists("old"), exists("a"), exists("b"), exists("c"))
	}
	// a again: its new log is a running job's until it is removed again.
	mustOK(t, d.run("a", []string{"sleep", "30"}))
	runRemove("e")
	if !exists("a") || !exists("c") || !exists("e") {
		t.Errorf("a restarted, e removed: a %v c %v e %v, want all (a runs)", exists("a"), exists("c"), exists("e"))
	}
	runRemove("f")
	if exists("c") || !exists("e") || !exists("f") || !exists("a") {
		t.Errorf("after f removed: c %v e %v f %v a %v, want e f and the running a", exists("c"), exists("e"), exists("f"), exists("a"))
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file not ending in .log was touched: %v", err)
	}
	// --log-retain 0: a log goes with its job.
	d0 := startDaemon(t, "-L", t.TempDir(), "--log-retain", "0")
	mustOK(t, d0.run("z", []string{"echo", "z"}))
	mustOK(t, d0.do("WAIT", "id", "z"))
	p := mustOK(t, d0.do("INSPECT", "id", "z")).KV["log"]
	mustOK(t, d0.do("REMOVE", "id", "z"))
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("--log-retain 0: %s after REMOVE (%v), want gone", p, err)
	}
}
