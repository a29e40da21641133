package daemon

import "cgroupd/applets/daemon/job"

// record queues j's record (no-op without a journal), made by the job
// model after the transition that asked for it.
func (d *daemon) record(j *entry) {
	if j.Phase() >= job.Running {
		d.journal.Put(j.ID(), job.Encode(j.Job, d.bootID))
	}
}

// unrecord queues the deletion of j's record.
func (d *daemon) unrecord(j *entry) { d.journal.Delete(j.ID()) }
