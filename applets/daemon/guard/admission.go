package guard

import (
	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/pressure"
	"cgroupd/core/hostmem"
	"cgroupd/core/psi"
	"fmt"
	"path/filepath"
	"strconv"
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

// admit is the admission rule: refused while the host's memory headroom
// is below the kill threshold of the headroom rule (a job started then
// would only feed the overload the engine is resolving), or while a host
// PSI avg10 is at its admission threshold.
func (g *Guard) admit() *Block {
	if b := headroomBlock(g.cfg.Thresholds, g.cfg.Meminfo, g.hostPSI); b != nil {
		return b
	}
	return admission(g.cfg.Thresholds, g.hostPSI)
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

// headroomBlock refuses admission while MemAvailable is below
// HostMemKill percent (and, with swap, SwapFree below HostSwapKill).
func headroomBlock(t Thresholds, mi *hostmem.Reader, read func(resource string) (psi.PSI, error)) *Block {
	if mi == nil || t.HostMemKill < 0 {
		return nil
	}
	m, err := mi.Read()
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
