package supervisor

import "cgroupd/applets/daemon/job"

// record queues j's record (no-op without a journal), made by the job
// model after the transition that asked for it.
func (sv *core) record(j *Job) {
	if j.Phase() >= job.Running {
		sv.journal.Put(j.ID(), job.Encode(j.model, sv.cfg.BootID))
	}
}

// unrecord queues the deletion of j's record.
func (sv *core) unrecord(j *Job) { sv.journal.Delete(j.ID()) }
