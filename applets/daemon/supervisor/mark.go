package supervisor

import (
	"errors"

	"golang.org/x/sys/unix"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"
)

// A job's cgroup is marked as the daemon's from its mkdir on, before any
// process can be in it: user.cgroupd.job holds "starting", then, before
// its job.start and its RUN's reply, the job's first record without its argv
// (job.EncodeMark: every user can read it; so the reply
// need not wait for the journal: Recorded); the root's user.cgroupd.mkdir
// names a cgroup about to be made. Why, and what it guards against:
// DESIGN.md, "A job's first record also goes on its cgroup". After a
// crash (adoption) a cgroup no record names is read by its mark:
// "starting" (or named by the intent, unmarked) is killed, removed and
// reported (cgroup.stray); a record is restored as from the journal, and
// written there. A cgroup without either is not the daemon's: reported,
// left alone. Without a journal (--state-dir none) no record is kept and
// such cgroups are reported as any other.

const (
	markXattr   = "user.cgroupd.job"
	intentXattr = "user.cgroupd.mkdir"
	markStart   = "starting"
)

// markStarted records j as it starts: its first record is queued for the
// journal and the same bytes go on its cgroup (before its job.start). j
// is then on record (Recorded) unless the xattr fails (a kernel without
// user xattrs on cgroupfs: the reply waits for the journal, as it did).
func (sv *core) markStarted(j *Job) {
	if sv.journal == nil {
		return
	}
	sv.journal.Put(j.ID(), job.Encode(j.model, sv.cfg.BootID))
	if err := j.Cgroup().SetXattr(markXattr, job.EncodeMark(j.model, sv.cfg.BootID)); err != nil {
		sv.debugf("mark %s: %v", j.Cgroup(), err)
		return
	}
	j.marked = true
}

// unrecorded deals with a cgroup under the root that no record names but
// that carries the mark, or that the root's intent names (named) and has
// no mark yet (see above); false: no mark of ours, report it. populated
// is its cgroup.events' ("1" or "0").
func (ad *adoption) unrecorded(name string, cg cgroup.Dir, populated string, named bool) bool {
	if ad.sv.journal == nil {
		return false
	}
	mark, err := cg.Xattr(markXattr)
	intended := named && errors.Is(err, unix.ENODATA)
	if err != nil && !intended {
		return false
	}
	if intended || string(mark) == markStart {
		if populated == "1" {
			if err := ad.sv.killCgroup(cg); err != nil {
				ad.sv.logf("stray cgroup %s: kill: %v", cg, err)
			}
		}
		if !ad.sv.sp.abandon(cg, nil) {
			ad.strays[name] = true // emptying: its id is not free until it is removed
		}
		ad.sv.logf("cgroup %s: a RUN the last daemon had not started (it stopped first): killed and removed (populated %s)", cg, populated)
		ad.sv.emit(&hub.Event{Type: "cgroup.stray"}, "id", name, "cgroup", string(cg), "populated", populated)
		return true
	}
	m, meta, err := job.Decode(mark, name, ad.sv.cfg.Root)
	if err != nil || meta.Phase != job.Running {
		return false
	}
	j := newJob(m)
	ad.restore(j, meta, nil)
	ad.sv.record(j) // the journal's file, which the crash cut short
	ad.sv.logf("job %s: restored from its cgroup's mark (the last daemon stopped before its record was written)", j.ID())
	return true
}
