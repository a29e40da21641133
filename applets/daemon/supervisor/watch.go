package supervisor

import "cgroupd/core/notify"

// onNotify dispatches inotify events to the jobs they belong to.
func (sv *Supervisor) onNotify() {
	wds, err := sv.watcher.Read()
	if err != nil {
		sv.debugf("inotify read: %v", err)
	}
	for _, wd := range wds {
		if wd == notify.Overflow {
			// Queue overflow: recheck every job in a transition, and
			// every live job's oom_kill (a lost notification must not
			// lose a job.oom).
			for j := range sv.stopping {
				sv.checkEvents(j)
			}
			for j := range sv.liveJobs {
				sv.checkMemEvents(j, false)
			}
			sv.l.Overflow() // the server rechecks what its clients wait for
			continue
		}
		w, ok := sv.watches[wd]
		if !ok {
			continue // removed watch (IN_IGNORED) or a stale wd
		}
		switch w.kind {
		case watchEvents:
			sv.checkEvents(w.job)
		case watchMemEvents:
			sv.checkMemEvents(w.job, false)
		case watchLog:
			sv.logs.Grew(w.job.Log())
			sv.l.LogGrew(w.job)
		}
	}
}

// watchFile adds a notify watch on file of j; *wd gets the descriptor.
func (sv *Supervisor) watchFile(j *Job, path string, kind int, wd *int) error {
	w, err := sv.watcher.Add(path)
	if err != nil {
		return err
	}
	*wd = w
	sv.watches[w] = watch{job: j, kind: kind}
	return nil
}

func (sv *Supervisor) unwatch(j *Job, wd *int) {
	if *wd < 0 {
		return
	}
	if w, ok := sv.watches[*wd]; ok && w.job == j {
		delete(sv.watches, *wd)
		// EINVAL: the kernel dropped the watch already (file removed).
		sv.watcher.Remove(*wd)
	}
	*wd = -1
}
