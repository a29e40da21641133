package guard

import (
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/hostmem"
	"cgroupd/core/psi"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Thresholds are PSI avg10 percentages; a negative value disables a rule.
type Thresholds struct {
	MemKill, MemFreezeSome, CPUDemoteSome, IOFreezeFull   float64
	MemAdmitSome, MemAdmitFull, CPUAdmitSome, IOAdmitFull float64
	// The host rules: headroom (percent of MemTotal / SwapTotal) and
	// host memory full stall.
	HostMemKill, HostSwapKill, HostPSIKill float64
}

// DefaultThresholds are the rules' defaults: the engine's ladder and
// host rules (pressure.Defaults) and the admission thresholds.
func DefaultThresholds() Thresholds {
	p := pressure.Defaults()
	return Thresholds{
		MemKill: p.MemKill, MemFreezeSome: p.MemFreeze, CPUDemoteSome: p.CPUDemote, IOFreezeFull: p.IOFreeze,
		MemAdmitSome: 80, MemAdmitFull: 15, CPUAdmitSome: 95, IOAdmitFull: 80,
		HostMemKill: p.HostMemKill, HostSwapKill: p.HostSwapKill, HostPSIKill: p.HostPSIKill,
	}
}

// admissionRule is one --*-admit-* threshold.
type admissionRule struct {
	resource  string // memory, cpu, io
	full      bool
	threshold float64
}

func admissionRules(t Thresholds) []admissionRule {
	return []admissionRule{
		{"memory", false, t.MemAdmitSome},
		{"memory", true, t.MemAdmitFull},
		{"cpu", false, t.CPUAdmitSome},
		{"io", true, t.IOAdmitFull},
	}
}

// Block is a refused admission.
type Block struct {
	Reason   string
	Resource string
	Some     float64
	Full     float64
}

// admission checks host PSI against the thresholds in order and returns
// the first rule that blocks, or nil. read returns a resource's PSI; an
// error (PSI off) skips that resource.
func admission(t Thresholds, read func(resource string) (psi.PSI, error)) *Block {
	cache := map[string]*psi.PSI{}
	for _, r := range admissionRules(t) {
		if r.threshold < 0 {
			continue
		}
		p, ok := cache[r.resource]
		if !ok {
			v, err := read(r.resource)
			if err == nil {
				p = &v
			}
			cache[r.resource] = p
		}
		if p == nil {
			continue
		}
		line, kind := p.Some, "some"
		if r.full {
			line, kind = p.Full, "full"
		}
		if line.Avg10 >= r.threshold {
			return &Block{
				Reason:   fmt.Sprintf("admission blocked: %s.%s.avg10 %.2f >= %.2f", r.resource, kind, line.Avg10, r.threshold),
				Resource: r.resource, Some: p.Some.Avg10, Full: p.Full.Avg10,
			}
		}
	}
	return nil
}

// admitFresh is how long admission reuses what it read from procfs. The
// kernel recomputes PSI's averages every 2 s (PSI_FREQ), so a reading of
// up to 20 ms ago misses nothing of them; MemAvailable is at most 20 ms
// old. Reading /proc/meminfo and the three pressure files for every RUN
// was, after the cgroup's mkdir, the largest part of a RUN's work on the
// loop (about 48 of the 380 µs at 1 client). Files elsewhere (a test's
// fake --host-pressure or --host-meminfo, written between RUNs) are read
// for every RUN.
const admitFresh = 20 * time.Millisecond

// admitSeen is what admission read from procfs at a time.
type admitSeen struct {
	at  time.Time
	mem *hostmem.Info
	psi [3]*psi.PSI // by admitResources
}

var admitResources = [3]string{"memory", "cpu", "io"}

// admit is the admission rule: refused while the host's memory headroom
// is below the kill threshold of the headroom rule (a job started then
// would only feed the overload the engine is resolving), or while a host
// PSI avg10 is at its admission threshold.
func (g *Guard) admit() *Block {
	if now := time.Now(); now.Sub(g.seen.at) >= admitFresh {
		g.seen = admitSeen{at: now}
	}
	var mem func() (hostmem.Info, error)
	if g.cfg.Meminfo != nil {
		mem = g.seenMeminfo
	}
	if b := headroomBlock(g.cfg.Thresholds, mem, g.seenPSI); b != nil {
		return b
	}
	return admission(g.cfg.Thresholds, g.seenPSI)
}

// seenMeminfo is the host's meminfo, read at most once per admitFresh on
// procfs.
func (g *Guard) seenMeminfo() (hostmem.Info, error) {
	if g.seen.mem != nil {
		return *g.seen.mem, nil
	}
	m, err := g.cfg.Meminfo.Read()
	if err == nil && g.cfg.Meminfo.OnProc() {
		g.seen.mem = &m
	}
	return m, err
}

// seenPSI is the host's pressure of resource, read at most once per
// admitFresh on procfs.
func (g *Guard) seenPSI(resource string) (psi.PSI, error) {
	i := slices.Index(admitResources[:], resource)
	if i >= 0 && g.seen.psi[i] != nil {
		return *g.seen.psi[i], nil
	}
	p, err := g.hostPSI(resource)
	if err == nil && i >= 0 && g.hostPSIFiles[resource].Kept() {
		g.seen.psi[i] = &p
	}
	return p, err
}

// emitAdmissionReject reports a refused (or expired) RUN of job id. Its
// some_avg10 and full_avg10 are the host's; psi_available=0 says they
// were not measured (a kernel without PSI).
func (g *Guard) emitAdmissionReject(b *Block, id string) {
	kv := []string{"resource", b.Resource, "some_avg10", fmtPct(b.Some), "full_avg10", fmtPct(b.Full),
		"action", "admission_reject", "target", id}
	if !g.psiHost {
		kv = append(kv, "psi_available", "0")
	}
	g.jobs.Emit(&hub.Event{Type: "pressure", Job: id, Action: "admission_reject", Resource: b.Resource}, kv...)
}

// headroomBlock refuses admission while MemAvailable (from mem; nil:
// unknown) is below HostMemKill percent (and, with swap, SwapFree below
// HostSwapKill).
func headroomBlock(t Thresholds, mem func() (hostmem.Info, error), read func(resource string) (psi.PSI, error)) *Block {
	if mem == nil || t.HostMemKill < 0 {
		return nil
	}
	m, err := mem()
	if err != nil {
		return nil
	}
	avail := m.AvailablePct()
	if avail >= t.HostMemKill || (m.SwapTotal > 0 && m.SwapFreePct() >= t.HostSwapKill) {
		return nil
	}
	p, _ := read("memory")
	return &Block{
		Reason:   fmt.Sprintf("admission blocked: host memory available %.2f%% < %.2f%%", avail, t.HostMemKill),
		Resource: "memory", Some: p.Some.Avg10, Full: p.Full.Avg10,
	}
}

// hostPSI reads the host's pressure file of resource (memory, cpu, io)
// from --host-pressure (/proc/pressure), kept open on procfs (psi.Reader).
func (g *Guard) hostPSI(resource string) (psi.PSI, error) {
	r := g.hostPSIFiles[resource]
	if r == nil {
		if g.hostPSIFiles == nil {
			g.hostPSIFiles = map[string]*psi.Reader{}
		}
		r = psi.NewReader(filepath.Join(g.cfg.HostPressure, resource))
		g.hostPSIFiles[resource] = r
	}
	return r.Read()
}

func fmtPct(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
