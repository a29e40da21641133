package supervisor

import (
	"errors"

	"golang.org/x/sys/unix"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"
)

// A job's cgroup is marked as the daemon's from its mkdir on, before any
// process can be in it: the extended attribute user.cgroupd.job holds
// "starting" until the job runs, then, set before its job.start is
// emitted and before its RUN is answered, the job's first record without
// its argv (job.EncodeMark: every user can read it). The mark is a record
// as good as the journal's file on /run for what it guards: it lives in
// the kernel's memory as long as the cgroup does, so
// it outlives a crash of the daemon, and a reboot ends the job anyway.
// So a RUN's reply does not wait for the journal's write of that record
// (Recorded); the journal still writes it, for the job's later life.
//
// A crash between the mkdir and the journal's write leaves a cgroup that
// no record names; the mark tells the next daemon what it was (adoption):
//
//   - "starting": the RUN was never answered and no job.start was
//     emitted; what is in the cgroup is killed, the cgroup removed and
//     reported (cgroup.stray);
//   - a record: the job is restored from it as from the journal, its
//     command unknown, and its record is written.
//
// The one moment a crash could leave a job cgroup without its mark is
// between its mkdir and its "starting"; for that moment the root's
// user.cgroupd.mkdir names it (cgroup.CreateMarked; the loop makes one job
// cgroup at a time). A cgroup it names, still without a mark, is treated
// as "starting" (it is empty: no process can enter before the mark).
//
// A cgroup without the mark (nor named by the intent) is not one the
// daemon made: reported, left alone. Marking costs three setxattr(2) and
// one removexattr(2) on cgroupfs per RUN, in memory (a few us each).
// Without a journal (--state-dir none) no record is kept at all, and such
// cgroups are reported as before.

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
	sv.journal.Put(j.ID(), job.Encode(j.Job, sv.cfg.BootID))
	if err := j.Cgroup().SetXattr(markXattr, job.EncodeMark(j.Job, sv.cfg.BootID)); err != nil {
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
