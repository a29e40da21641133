package server

import (
	"bytes"
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/applets/daemon/top"
	"cgroupd/core/proto"
	"sort"
	"strconv"
	"time"
)

// TOP (extension): what `cgroupctl top` shows, in one request per
// refresh. Request keys: sort (memory, cpu, pressure or priority; default
// memory) and limit (at most that many job blocks; 0 or none: all). The
// answer, laid out as LIST's: one block per job the caller may see, sorted,
//
//	id uid priority state age_ms [cpu_pct] [memory_current] [memory_max]
//	[pids_current] [psi_mem_some_avg10] [psi_cpu_some_avg10] [psi_io_some_avg10]
//
// then a STATUS: ok block with STATS's keys followed by count (blocks
// sent), total (jobs the caller may see), the engine's thresholds
// (threshold_mem_freeze_some_pct, threshold_mem_kill_full_pct,
// threshold_cpu_demote_some_pct, threshold_io_freeze_full_pct; absent when
// a rule is off), sample_age_ms and sample_cycle_ms (how old the per-job
// figures are and how long the last pass over every job took), and up to
// topDecisions `decision` keys: the latest pressure events (the event line
// after "type=pressure ").
//
// Cost: the verb reads no per-job file; the figures in brackets come from
// TOP's sampler (package top), off the loop.

const topDecisions = 5 // decision keys: the latest pressure events

// doTop answers TOP.
func (srv *Server) doTop(c *conn, r *proto.Request) []byte {
	now := time.Now()
	srv.cfg.Top.Use(now)
	key, _ := r.Get("sort")
	less, ok := topOrders[key]
	if key == "" {
		less, ok = topOrders["memory"], true
	}
	if !ok {
		return proto.Err("sort: want memory, cpu, pressure or priority").Bytes()
	}
	limit := 0
	if v, ok := r.Get("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return proto.Err("limit: want a number >= 0").Bytes()
		}
		limit = n
	}
	out, count, total := topRows(c, srv.sup.Jobs(), srv.cfg.Top.Of, less, limit, now)
	// STATS's block, then TOP's keys: drop its closing blank line.
	head := bytes.TrimSuffix(srv.doStats(c), []byte("\n"))
	tail := proto.Block().Add("count", strconv.Itoa(count)).Add("total", strconv.Itoa(total))
	if cfg, ok := srv.sup.EngineConfig(); ok {
		for _, th := range []struct {
			key string
			v   float64
		}{{"threshold_mem_freeze_some_pct", cfg.MemFreeze}, {"threshold_mem_kill_full_pct", cfg.MemKill},
			{"threshold_cpu_demote_some_pct", cfg.CPUDemote}, {"threshold_io_freeze_full_pct", cfg.IOFreeze}} {
			if th.v >= 0 {
				tail.Add(th.key, pct(th.v))
			}
		}
	}
	if age, ok, cycle, cok := srv.cfg.Top.Ages(now); ok || cok {
		if ok {
			tail.Add("sample_age_ms", strconv.FormatInt(age.Milliseconds(), 10))
		}
		if cok {
			tail.Add("sample_cycle_ms", strconv.FormatInt(cycle.Milliseconds(), 10))
		}
	}
	for _, dec := range recentDecisions(srv.events, c, topDecisions) {
		tail.Add("decision", dec)
	}
	out = append(out, head...)
	return tail.AppendTo(out)
}

// topRows is one block per job of jobs that c may see, sorted by less
// (start order within a tie), at most limit (0: all), with the sampler's
// figures (of); count is the blocks, total the jobs c may see.
func topRows(c *conn, jobs []*supervisor.Job, of func(*supervisor.Job) (top.Sample, bool), less topOrder, limit int, now time.Time) (out []byte, count, total int) {
	type row struct {
		j *supervisor.Job
		s top.Sample
	}
	rows := make([]row, 0, len(jobs))
	for _, j := range jobs {
		if visible(c, j) {
			s, _ := of(j)
			rows = append(rows, row{j, s})
		}
	}
	sort.Slice(rows, func(a, b int) bool {
		if c := less(rows[a].j, rows[b].j, &rows[a].s, &rows[b].s); c != 0 {
			return c < 0
		}
		return rows[a].j.Seq() < rows[b].j.Seq()
	})
	total = len(rows)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	nowMs := now.UnixMilli()
	out = make([]byte, 0, len(rows)*200)
	for _, rw := range rows {
		j, s := rw.j, rw.s
		b := proto.Block().Add("id", j.ID()).Add("uid", strconv.FormatUint(uint64(j.Spec().UID), 10)).
			Add("priority", strconv.Itoa(j.Spec().Priority)).Add("state", j.State()).
			Add("age_ms", strconv.FormatInt(j.AgeMs(nowMs), 10))
		if !j.IsEnded() && !j.IsPending() && !s.At.IsZero() {
			if s.CPUPctOK {
				b.Add("cpu_pct", pct(s.CPUPct))
			}
			if s.MemOK {
				b.Add("memory_current", u64(s.Mem))
			}
			if s.MaxOK && s.MemMax == top.MaxUnlimited {
				b.Add("memory_max", "max")
			} else if s.MaxOK {
				b.Add("memory_max", u64(s.MemMax))
			}
			if s.PidsOK {
				b.Add("pids_current", u64(s.Pids))
			}
			if s.PSIOK {
				b.Add("psi_mem_some_avg10", pct(s.PSIMem)).Add("psi_cpu_some_avg10", pct(s.PSICPU)).
					Add("psi_io_some_avg10", pct(s.PSIIO))
			}
		}
		out = b.AppendTo(out)
	}
	return out, len(rows), total
}

// topOrders compare two jobs for each sort key: biggest first (lowest
// priority first, the engine's order); unknown figures last.
// topOrder compares two jobs and their figures (< 0: a first).
type topOrder func(a, b *supervisor.Job, sa, sb *top.Sample) int

var topOrders = map[string]topOrder{
	"memory": func(a, b *supervisor.Job, sa, sb *top.Sample) int { return desc(sa.Mem, sa.MemOK, sb.Mem, sb.MemOK) },
	"cpu": func(a, b *supervisor.Job, sa, sb *top.Sample) int {
		return desc(sa.CPUPct, sa.CPUPctOK, sb.CPUPct, sb.CPUPctOK)
	},
	"pressure": func(a, b *supervisor.Job, sa, sb *top.Sample) int {
		return desc(max(sa.PSIMem, sa.PSICPU, sa.PSIIO), sa.PSIOK, max(sb.PSIMem, sb.PSICPU, sb.PSIIO), sb.PSIOK)
	},
	"priority": func(a, b *supervisor.Job, sa, sb *top.Sample) int {
		if a.Spec().Priority != b.Spec().Priority {
			return a.Spec().Priority - b.Spec().Priority
		}
		return desc(sa.Mem, sa.MemOK, sb.Mem, sb.MemOK)
	},
}

func desc[T uint64 | float64](a T, aok bool, b T, bok bool) int {
	switch {
	case aok != bok && aok:
		return -1
	case aok != bok:
		return 1
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// recentDecisions are the latest pressure events c may see, oldest first,
// without their "EVENT ... type=pressure " head.
func recentDecisions(events *hub.Hub, c *conn, n int) []string {
	lines := events.Latest(hub.Filter{Types: map[string]bool{"pressure": true}, UID: c.cred.Uid, Root: c.cred.Uid == 0}, n)
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		line = bytes.TrimRight(line, "\n")
		if k := bytes.Index(line, []byte(" type=pressure ")); k >= 0 {
			line = line[k+len(" type=pressure "):]
		}
		out = append(out, string(line))
	}
	return out
}
