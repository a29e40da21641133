package supervisor

import (
	"errors"
	"io/fs"
	"strconv"

	"cgroupd/applets/daemon/hub"
	"cgroupd/applets/daemon/job"
	"cgroupd/core/cgroup"

	"golang.org/x/sys/unix"
)

// A job's cgroup is marked as the daemon's from its mkdir on, before any
// process can be in it: the extended attribute user.cgroupd.job holds
// "starting" until the job runs, then, set before its job.start is
// emitted, the job's first record. A crash between the mkdir and the
// journal's write of that record (a RUN in flight) leaves a cgroup that
// no record names; the mark tells the next daemon what it was (adoption):
//
//   - "starting": the RUN was never answered and no job.start was
//     emitted; what is in the cgroup is killed, the cgroup removed and
//     reported (cgroup.stray);
//   - a record: job.start may have been emitted, so the job is restored
//     from it as from the journal, then killed if it still runs (job.kill
//     reason=unrecorded): it ends with its one job.exit, and stays listed.
//
// A cgroup without the mark is not one the daemon made: reported, left
// alone. Setting the mark is two setxattr(2) on cgroupfs, in memory; the
// journal is not waited for. Without a journal (--state-dir none) no
// record is kept at all, and such cgroups are reported as before.

const (
	markXattr   = "user.cgroupd.job"
	markStart   = "starting"
	markMax     = 64 << 10 // the kernel's bound on an xattr's value
	ReasonStray = "unrecorded"
)

// markStarting marks a job cgroup just made.
func (sv *core) markStarting(cg cgroup.Dir) {
	if err := cg.SetXattr(markXattr, []byte(markStart)); err != nil {
		sv.debugf("mark %s: %v", cg, err)
	}
}

// markStarted puts j's record on its cgroup (before its job.start).
func (sv *core) markStarted(j *Job) {
	rec := job.Encode(j.Job, sv.cfg.BootID)
	if len(rec) > markMax {
		rec = job.EncodeBrief(j.Job, sv.cfg.BootID)
	}
	if err := j.Cgroup().SetXattr(markXattr, rec); err != nil {
		sv.debugf("mark %s: %v", j.Cgroup(), err)
	}
}

// unrecorded deals with a cgroup under the root that no record names but
// that carries the mark (see above); false: no mark of ours, report it.
func (ad *adoption) unrecorded(name string, cg cgroup.Dir) bool {
	if ad.sv.journal == nil {
		return false
	}
	mark, err := cg.Xattr(markXattr)
	if err != nil {
		return false
	}
	if string(mark) == markStart {
		populated := "0"
		if ev, err := cg.Events(); err == nil && ev.Populated {
			populated = "1"
			if err := ad.sv.killCgroup(cg); err != nil {
				ad.sv.logf("stray cgroup %s: kill: %v", cg, err)
			}
		}
		if err := cg.Remove(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			ad.sv.sp.graves = append(ad.sv.sp.graves, cg) // emptying: removed on a later tick
			ad.strays[name] = true                        // its id is not free until then
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
	if ad.restore(j, meta, nil) == job.Running {
		if err := ad.sv.killJob(j, int(unix.SIGKILL), ReasonStray); err != nil {
			ad.sv.logf("job %s: kill: %v", j.ID(), err)
		}
	}
	ad.sv.logf("job %s: started, but the last daemon stopped before its record was written: ended (pid %s)", j.ID(), strconv.Itoa(j.Pid()))
	return true
}
