package daemon

// What a non-root caller sees of other users (issue 33 #12): METRICS's
// per-job series hold the caller's own jobs only.

import (
	"strconv"
	"strings"
	"testing"
)

// METRICS for a non-root caller: its own jobs' series, none of another
// user's (no id, no uid, no figures); root sees every job's. The
// aggregates are the same for both.
func TestMetricsPerCaller(t *testing.T) {
	d := startDaemon(t, "--socket-group", strconv.Itoa(nobody))
	mustOK(t, d.run("roots", []string{"sleep", "60"}))
	if _, errOut, code := d.ctlAs(asNobody, "run", "--id", "nobodys", "--", "sleep", "60"); code != 0 {
		t.Fatalf("run as nobody: exit %d: %s", code, errOut)
	}
	metrics := func(asRoot bool) string {
		t.Helper()
		var out, errOut string
		var code int
		if asRoot {
			out, errOut, code = d.ctl("metrics")
		} else {
			out, errOut, code = d.ctlAs(asNobody, "metrics")
		}
		if code != 0 {
			t.Fatalf("cgroupctl metrics (root %v): exit %d: %s", asRoot, code, errOut)
		}
		return out
	}
	const cpu = "cgroupd_job_cpu_seconds_total{id="
	root, mine := metrics(true), metrics(false)
	if !strings.Contains(root, cpu+`"roots"`) || !strings.Contains(root, cpu+`"nobodys"`) {
		t.Errorf("root's METRICS: want both jobs' series, got:\n%s", grepLines(root, "cgroupd_job_"))
	}
	if !strings.Contains(mine, cpu+`"nobodys"`) {
		t.Errorf("nobody's METRICS: want its own job's series, got:\n%s", grepLines(mine, "cgroupd_job_"))
	}
	if strings.Contains(mine, `"roots"`) || strings.Contains(mine, `uid="0"`) {
		t.Errorf("nobody's METRICS shows root's job:\n%s", grepLines(mine, "roots"))
	}
	if a, b := grepLines(root, "cgroupd_jobs{"), grepLines(mine, "cgroupd_jobs{"); a != b || a == "" {
		t.Errorf("the aggregate cgroupd_jobs differs by caller: root\n%s\nnobody\n%s", a, b)
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
