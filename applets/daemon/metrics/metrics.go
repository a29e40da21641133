// Package metrics is the daemon's figures in the Prometheus text
// exposition format: counters fed by the event hub's typed events, gauges
// from the supervisor, per-job figures from a cache refreshed a little at
// a time, METRICS's text and --metrics-file.
package metrics

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cgroupd/applets/daemon/handoff"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/cgroup"
)

// Metrics (extension): the daemon's figures in the Prometheus text
// exposition format 0.0.4, names prefixed cgroupd_, base units (bytes,
// seconds, ratios), counters ending in _total, job ids as labels.
//
// METRICS (no request keys) answers "STATUS: ok\n\n" followed by the
// exposition text; the daemon closes the connection after the last byte
// (the framing of LOGS). --metrics-file PATH writes the same text every
// --metrics-interval (temp file in the same directory, then rename) for
// node_exporter's textfile collector.
//
// Cost: counters are bumped from the event stream (emit), gauges come from
// what the loop already tracks, and the per-job figures (memory.current,
// pids.current, cpu.stat usage_usec) from a cache that the housekeeping
// tick refreshes incrementally, for at most metricsBudget per tick, and only
// once metrics are in use (a --metrics-file, or a METRICS request in the
// last metricsIdle). Rendering reads no file. A job whose figure was never
// read, or whose file cannot be read (no such controller), has no sample:
// unknown is absent, never 0. cgroupd_job_figures_cycle_seconds says how
// long the last pass over every live job took, i.e. how old a per-job
// figure may be.
//
// Measured on the 2-CPU development VM with 10 000 live jobs: reading one
// job's three files costs 25-130 µs, so 1000 jobs per tick held the loop
// 25-130 ms; at 5 ms per tick a pass over 10 000 jobs takes about a minute
// and the loop is never held longer than that (plus rendering).

const (
	metricsBudget = 5 * time.Millisecond // per-job reads per tick (and per METRICS)
	metricsIdle   = 10 * time.Minute     // sampling stops this long after the last METRICS
)

// The kind label of cgroupd_actions_total.
const (
	actFreeze   = "freeze"
	actThaw     = "thaw"
	actKill     = "kill"
	actThrottle = "throttle" // demote or restore cpu.weight
)

// actionKinds are the event types counted as actions, and the kind label.
var actionKinds = map[string]string{
	"job.freeze": actFreeze, "job.thaw": actThaw, "job.kill": actKill, "job.throttle": actThrottle,
}

// actionLabels are the kind/reason pairs the daemon can produce: they are
// exported from the start at 0. A pair seen later is added when it occurs.
var actionLabels = [][2]string{
	{actFreeze, job.ReasonClient}, {actFreeze, pressure.ReasonMemory}, {actFreeze, pressure.ReasonIO},
	{actThaw, job.ReasonClient}, {actThaw, pressure.ReasonReceded},
	{actKill, job.ReasonClient}, {actKill, supervisor.ReasonShutdown}, {actKill, pressure.ReasonMemory},
	{actKill, pressure.ReasonHostMemory}, {actKill, pressure.ReasonHostPSI}, {actKill, pressure.ReasonHostReclaim},
	{actThrottle, pressure.ReasonCPU}, {actThrottle, pressure.ReasonReceded},
}

// admissionResources label cgroupd_admission_refusals_total: the resource
// whose pressure refused a RUN, or "queue" for a queued RUN that timed out
// behind other pending jobs.
var admissionResources = []string{"memory", "cpu", "io", "queue"}

// jobStates are every state of PROTOCOL.md, for cgroupd_jobs.
var jobStates = job.States

// jobSample is the cached per-job figures; a figure not read (or not
// readable) has its ok flag false.
type jobSample struct {
	mem, pids, cpuUsec   uint64
	memOK, pidsOK, cpuOK bool
}

// Config is what the metrics are started with.
type Config struct {
	File     string        // --metrics-file ("": none)
	Interval time.Duration // --metrics-interval
	Debug    bool
	Logf     func(format string, args ...any)
	// Events is the hub, whose Dropped counts the event lines dropped for
	// consumers that fell behind (STATS events_dropped); nil: none.
	Events Dropper
}

// Dropper counts dropped event lines (hub.Hub).
type Dropper interface{ Dropped() uint64 }

// Source is what the metrics read of the jobs (the supervisor).
type Source interface {
	ByState() map[string]int
	Counts() (running, frozen, pending int)
	LiveJobs() []*supervisor.Job
	Pressure() (pressure.Measurements, bool)
}

// Metrics is the daemon's metric state; only the loop touches it.
type Metrics struct {
	cfg Config
	sup Source

	actions    map[[2]string]uint64 // kind, reason
	admissions map[string]uint64    // resource
	started    uint64
	ended      map[string]uint64 // end state
	ooms       uint64

	samples    map[*supervisor.Job]jobSample
	cycle      []*supervisor.Job // live jobs of the current refresh cycle
	cursor     int               // next index in cycle
	cycleStart time.Time         // when the current cycle began
	cycleTime  time.Duration     // how long the last whole cycle took (0: none yet)
	lastUsed   time.Time         // last METRICS request

	nextWrite time.Time // --metrics-file
	writeErr  string    // last write error logged ("" after a success)
}

// Observe counts one published event (a hub observer).
func (m *Metrics) Observe(e *hub.Event) {
	m.counters()
	switch e.Type {
	case "job.start":
		m.started++
	case "job.exit":
		m.ended[e.State]++
	case "job.oom":
		m.ooms++
	case "pressure":
		if e.Action == "admission_reject" {
			res := e.Resource
			if res == "" {
				res = "queue"
			}
			m.admissions[res]++
		}
	default:
		if kind, ok := actionKinds[e.Type]; ok {
			m.actions[[2]string{kind, e.Reason}]++
		}
	}
}

// Handoff adds the counters to an upgrade's hand-over: Prometheus sees
// them go on, not reset, across `cgroupctl upgrade`.
func (m *Metrics) Handoff(h *handoff.Handoff) {
	add := func(name string, v uint64, labels ...string) {
		if v > 0 {
			h.Counters = append(h.Counters, handoff.Counter{Name: name, Value: v, Labels: labels})
		}
	}
	add("started", m.started)
	add("oom", m.ooms)
	for _, st := range slices.Sorted(maps.Keys(m.ended)) {
		add("ended", m.ended[st], st)
	}
	for _, r := range slices.Sorted(maps.Keys(m.admissions)) {
		add("admission", m.admissions[r], r)
	}
	for kr, v := range m.actions {
		add("action", v, kr[0], kr[1])
	}
}

// Take adds the counters an upgrading image handed over (before any event
// of this one is counted). A counter of a name this image does not know
// is dropped.
func (m *Metrics) Take(h *handoff.Handoff) {
	m.counters()
	for _, c := range h.Counters {
		switch {
		case c.Name == "started":
			m.started += c.Value
		case c.Name == "oom":
			m.ooms += c.Value
		case c.Name == "ended" && len(c.Labels) == 1:
			m.ended[c.Labels[0]] += c.Value
		case c.Name == "admission" && len(c.Labels) == 1:
			m.admissions[c.Labels[0]] += c.Value
		case c.Name == "action" && len(c.Labels) == 2:
			m.actions[[2]string{c.Labels[0], c.Labels[1]}] += c.Value
		}
	}
}

// counters makes the counters' maps on first use.
func (m *Metrics) counters() {
	if m.actions == nil {
		m.actions, m.admissions, m.ended = map[[2]string]uint64{}, map[string]uint64{}, map[string]uint64{}
	}
}

// metricsInUse reports whether the per-job cache should be kept fresh.
func (m *Metrics) inUse(now time.Time) bool {
	return m.cfg.File != "" || (!m.lastUsed.IsZero() && now.Sub(m.lastUsed) < metricsIdle)
}

// Tick runs on the housekeeping tick: it refreshes the next batch
// of the per-job cache and writes --metrics-file when it is due.
func (m *Metrics) Tick(now time.Time, quitting bool) {
	if !m.inUse(now) {
		if m.samples != nil {
			m.samples, m.cycle, m.cursor = nil, nil, 0
			m.cycleStart, m.cycleTime = time.Time{}, 0
		}
		return
	}
	t0 := time.Now()
	if n := m.refreshSamples(metricsBudget); n > 0 {
		m.debugf("metrics: read the figures of %d jobs in %v", n, time.Since(t0).Round(time.Microsecond))
	}
	if m.cfg.File != "" && !now.Before(m.nextWrite) && !quitting {
		m.nextWrite = now.Add(m.cfg.Interval)
		t0 := time.Now()
		// One log line per new error, one when writing works again.
		err := m.writeFile(now)
		m.debugf("metrics: wrote %s in %v", m.cfg.File, time.Since(t0).Round(time.Microsecond))
		switch {
		case err != nil && err.Error() != m.writeErr:
			m.writeErr = err.Error()
			m.cfg.Logf("metrics file: %v", err)
		case err == nil && m.writeErr != "":
			m.writeErr = ""
			m.cfg.Logf("metrics file: %s written again", m.cfg.File)
		}
	}
}

// refreshSamples reads the per-job files of live jobs for about budget,
// continuing where the last call stopped; at the end of a cycle it drops
// the samples of jobs that ended and starts over with the live jobs of
// now. It returns how many jobs it read.
func (m *Metrics) refreshSamples(budget time.Duration) (read int) {
	if m.samples == nil {
		m.samples = map[*supervisor.Job]jobSample{}
	}
	start := time.Now()
	for restarted := false; time.Since(start) < budget; {
		if m.cursor >= len(m.cycle) {
			if restarted {
				return // every live job was looked at in this call
			}
			restarted = true
			now := time.Now()
			if !m.cycleStart.IsZero() {
				m.cycleTime = now.Sub(m.cycleStart)
			}
			m.cycleStart = now
			for j := range m.samples {
				if j.IsEnded() {
					delete(m.samples, j)
				}
			}
			clear(m.cycle)
			m.cycle, m.cursor = m.cycle[:0], 0
			m.cycle = append(m.cycle, m.sup.LiveJobs()...)
			if len(m.cycle) == 0 {
				return
			}
		}
		j := m.cycle[m.cursor]
		m.cycle[m.cursor] = nil
		m.cursor++
		if j.IsEnded() || j.IsPending() || j.MainGone() {
			delete(m.samples, j)
			continue
		}
		m.samples[j] = sampleJob(j.Cgroup())
		read++
	}
	return read
}

// sampleJob reads one job's memory.current, pids.current and cpu.stat.
func sampleJob(cg cgroup.Dir) jobSample {
	var s jobSample
	readUint := func(file string) (uint64, bool) {
		v, err := cg.Read(file)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	s.mem, s.memOK = readUint(cgroup.FileMemoryCurrent)
	s.pids, s.pidsOK = readUint(cgroup.FilePidsCurrent)
	s.cpuUsec, s.cpuOK = cg.CPUUsage()
	return s
}

// Answer answers METRICS: b (the STATUS block), then the exposition text,
// whose per-job series (cgroupd_job_*: id, uid, figures) hold the jobs the
// caller may see (shown; nil: every job). The other families are the
// daemon's and the host's aggregates, the same for every caller.
// A METRICS request turns the per-job sampling on (for metricsIdle) and
// refreshes one batch first, so a small daemon answers with fresh figures.
func (m *Metrics) Answer(b []byte, shown func(*supervisor.Job) bool) []byte {
	now := time.Now()
	m.lastUsed = now
	m.refreshSamples(metricsBudget)
	return m.appendMetrics(b, now, shown)
}

// writeMetricsFile writes the exposition to --metrics-file atomically: a
// temp file in the same directory (not ending in .prom, so the textfile
// collector skips it), then rename. No fsync: readers need atomicity, not
// durability, and an fsync is what could stall the loop.
func (m *Metrics) writeFile(now time.Time) error {
	path := m.cfg.File
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = f.Write(m.appendMetrics(nil, now, nil))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// appendMetrics appends the exposition text to b, with the per-job
// series of the jobs shown (nil: all). It reads no file.
func (m *Metrics) appendMetrics(b []byte, now time.Time, shown func(*supervisor.Job) bool) []byte {
	w := expo{b: b}

	version, goversion := buildInfo()
	w.family("cgroupd_build_info", "gauge", "Build of the running daemon: version and Go version as labels; always 1.")
	w.sample("cgroupd_build_info", 1, "version", version, "goversion", goversion)

	byState := m.sup.ByState()
	w.family("cgroupd_jobs", "gauge", "Jobs the daemon knows (not yet removed), by state.")
	for _, s := range jobStates {
		w.sample("cgroupd_jobs", float64(byState[s]), "state", s)
	}
	_, _, pending := m.sup.Counts()
	w.family("cgroupd_admission_queue_length", "gauge", "RUN requests waiting as pending jobs for admission (queue_timeout).")
	w.sample("cgroupd_admission_queue_length", float64(pending))

	w.family("cgroupd_jobs_started_total", "counter", "Jobs started (job.start events).")
	w.sample("cgroupd_jobs_started_total", float64(m.started))
	w.family("cgroupd_jobs_ended_total", "counter", "Jobs ended (job.exit events), by end state.")
	for _, s := range []string{job.StateExited, job.StateFailed, job.StateKilled} {
		w.sample("cgroupd_jobs_ended_total", float64(m.ended[s]), "state", s)
	}
	w.family("cgroupd_job_oom_events_total", "counter", "Increases of a job's memory.events oom_kill seen (job.oom events).")
	w.sample("cgroupd_job_oom_events_total", float64(m.ooms))

	w.family("cgroupd_actions_total", "counter", "Actions the daemon carried out on jobs (job.freeze, job.thaw, job.kill, job.throttle events), by kind and reason.")
	seen := map[[2]string]bool{}
	for _, kr := range actionLabels {
		seen[kr] = true
		w.sample("cgroupd_actions_total", float64(m.actions[kr]), "kind", kr[0], "reason", kr[1])
	}
	var extra [][2]string
	for kr := range m.actions {
		if !seen[kr] {
			extra = append(extra, kr)
		}
	}
	sort.Slice(extra, func(a, b int) bool {
		return extra[a][0] < extra[b][0] || extra[a][0] == extra[b][0] && extra[a][1] < extra[b][1]
	})
	for _, kr := range extra {
		w.sample("cgroupd_actions_total", float64(m.actions[kr]), "kind", kr[0], "reason", kr[1])
	}

	w.family("cgroupd_events_dropped_total", "counter", "Event lines dropped rather than block the daemon: a stderr that does not drain, EVENTS followers too far behind (STATS events_dropped).")
	w.sample("cgroupd_events_dropped_total", float64(m.dropped()))

	w.family("cgroupd_admission_refusals_total", "counter", "RUN requests refused by admission (pressure admission_reject events), by resource; queue: timed out behind other pending jobs.")
	for _, r := range admissionResources {
		w.sample("cgroupd_admission_refusals_total", float64(m.admissions[r]), "resource", r)
	}

	if p, ok := m.sup.Pressure(); ok {
		if p.Window > 0 {
			w.family("cgroupd_pressure_window_seconds", "gauge", "Span of the pressure engine's current measurement of the root.")
			w.sample("cgroupd_pressure_window_seconds", p.Window.Seconds())
			w.family("cgroupd_pressure_stall_ratio", "gauge", "Share of time stalled over the engine's window (root cgroup PSI totals; the STATS pressure_*_pct / 100).")
			for _, r := range []struct {
				name string
				st   pressure.Stall
			}{{"memory", p.Memory}, {"cpu", p.CPU}, {"io", p.IO}} {
				w.sample("cgroupd_pressure_stall_ratio", r.st.Some/100, "resource", r.name, "kind", "some")
				w.sample("cgroupd_pressure_stall_ratio", r.st.Full/100, "resource", r.name, "kind", "full")
			}
		}
	}

	// Per-job figures from the cache, live jobs in start order.
	live := make([]*supervisor.Job, 0, len(m.samples))
	for j := range m.samples {
		if !j.IsEnded() && (shown == nil || shown(j)) {
			live = append(live, j)
		}
	}
	sort.Slice(live, func(a, b int) bool { return live[a].Seq() < live[b].Seq() })
	// Each job's label set is formatted once for the three families.
	// Ids are [A-Za-z0-9._-] (limits.ValidID): no escaping needed, but
	// appendLabelValue costs little and keeps the format safe regardless.
	all := make([]byte, 0, len(live)*64)
	ends := make([]int, len(live))
	for i, j := range live {
		all = append(all, `{id="`...)
		all = appendLabelValue(all, j.ID())
		all = append(all, `",priority="`...)
		all = strconv.AppendInt(all, int64(j.Spec().Priority), 10)
		all = append(all, `",uid="`...)
		all = strconv.AppendUint(all, uint64(j.Spec().UID), 10)
		all = append(all, `"}`...)
		ends[i] = len(all)
	}
	labels := func(i int) []byte {
		if i == 0 {
			return all[:ends[0]]
		}
		return all[ends[i-1]:ends[i]]
	}
	w.b = slices.Grow(w.b, 3*(len(all)+len(live)*40))
	perJob := func(name, typ, help string, val func(s jobSample) (float64, bool)) {
		w.family(name, typ, help)
		for i, j := range live {
			if v, ok := val(m.samples[j]); ok {
				w.b = append(w.b, name...)
				w.b = append(w.b, labels(i)...)
				w.value(v)
			}
		}
	}
	if m.cycleTime > 0 {
		w.family("cgroupd_job_figures_cycle_seconds", "gauge", "How long the last pass reading every live job's figures took: the most a cgroupd_job_* figure may lag.")
		w.sample("cgroupd_job_figures_cycle_seconds", m.cycleTime.Seconds())
	}
	perJob("cgroupd_job_memory_bytes", "gauge", "memory.current of a live job's cgroup (absent without the memory controller).",
		func(s jobSample) (float64, bool) { return float64(s.mem), s.memOK })
	perJob("cgroupd_job_pids", "gauge", "pids.current of a live job's cgroup (absent without the pids controller).",
		func(s jobSample) (float64, bool) { return float64(s.pids), s.pidsOK })
	perJob("cgroupd_job_cpu_seconds_total", "counter", "cpu.stat usage_usec of a live job's cgroup, in seconds.",
		func(s jobSample) (float64, bool) { return float64(s.cpuUsec) / 1e6, s.cpuOK })
	return w.b
}

// buildInfo is the main module's version (from the VCS stamp; "unknown"
// when the binary has none) and the Go version.
func buildInfo() (version, goversion string) {
	version = "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	return version, runtime.Version()
}

// expo writes the text exposition format 0.0.4.
type expo struct{ b []byte }

// family writes the HELP and TYPE lines of a metric.
func (w *expo) family(name, typ, help string) {
	w.b = append(w.b, "# HELP "+name+" "...)
	w.b = append(w.b, strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)...)
	w.b = append(w.b, "\n# TYPE "+name+" "+typ+"\n"...)
}

// sample writes one sample; labels are name, value pairs.
func (w *expo) sample(name string, v float64, labels ...string) {
	w.b = append(w.b, name...)
	w.labels(labels...)
	w.value(v)
}

// labels writes {name="value",...}, nothing for none.
func (w *expo) labels(labels ...string) {
	if len(labels) == 0 {
		return
	}
	w.b = append(w.b, '{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, labels[i]...)
		w.b = append(w.b, '=', '"')
		w.b = appendLabelValue(w.b, labels[i+1])
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '}')
}

// value ends a sample line with its value.
func (w *expo) value(v float64) {
	w.b = append(w.b, ' ')
	w.b = appendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

// appendLabelValue escapes a label value: backslash, double quote and line
// feed (the format's three escapes); invalid UTF-8 becomes U+FFFD.
func appendLabelValue(b []byte, v string) []byte {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes a sample value: integers without exponent or point,
// others in Go's shortest form, and the format's spellings of the
// specials.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Start makes --metrics-file absolute and writes it once: a
// path the daemon cannot write stops the start with that error.
func (m *Metrics) Start() error {
	if m.cfg.File == "" {
		return nil
	}
	p, err := filepath.Abs(m.cfg.File)
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	m.cfg.File = p
	now := time.Now()
	m.nextWrite = now.Add(m.cfg.Interval)
	if err := m.writeFile(now); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// New is the metrics of sup's jobs; events reach them through Observe.
func New(cfg Config, sup Source) *Metrics {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Metrics{cfg: cfg, sup: sup}
}

// dropped is the hub's count of dropped event lines.
func (m *Metrics) dropped() uint64 {
	if m.cfg.Events == nil {
		return 0
	}
	return m.cfg.Events.Dropped()
}

func (m *Metrics) debugf(format string, args ...any) {
	if m.cfg.Debug {
		m.cfg.Logf("debug: "+format, args...)
	}
}
