package supervisor

import "cgroupd/core/notify"

// onNotify dispatches inotify events to the jobs they belong to.
func (ws *watches) onNotify() {
	wds, err := ws.watcher.Read()
	if err != nil {
		ws.sv.debugf("inotify read: %v", err)
	}
	for _, wd := range wds {
		if wd == notify.Overflow {
			// Queue overflow: recheck every job in a transition, and
			// every live job's oom_kill (a lost notification must not
			// lose a job.oom).
			for j := range ws.sv.stopping {
				ws.sv.checkEvents(j)
			}
			for j := range ws.sv.liveJobs {
				ws.sv.checkMemEvents(j, false)
			}
			ws.sv.oc.tell(Outcome{Kind: Overflow}) // the server rechecks what its clients wait for
			continue
		}
		w, ok := ws.watches[wd]
		if !ok {
			continue // removed watch (IN_IGNORED) or a stale wd
		}
		switch w.kind {
		case watchEvents:
			ws.sv.checkEvents(w.job)
		case watchMemEvents:
			ws.sv.checkMemEvents(w.job, false)
		case watchLog:
			ws.sv.logs.Grew(w.job.Log())
			ws.sv.oc.tell(Outcome{Kind: LogGrew, Job: w.job})
		}
	}
}

// watchFile adds a notify watch on file of j; *wd gets the descriptor.
func (ws *watches) watchFile(j *Job, path string, kind int, wd *int) error {
	w, err := ws.watcher.Add(path)
	if err != nil {
		return err
	}
	*wd = w
	ws.watches[w] = watch{job: j, kind: kind}
	return nil
}

func (ws *watches) unwatch(j *Job, wd *int) {
	if *wd < 0 {
		return
	}
	if w, ok := ws.watches[*wd]; ok && w.job == j {
		delete(ws.watches, *wd)
		// EINVAL: the kernel dropped the watch already (file removed).
		ws.watcher.Remove(*wd)
	}
	*wd = -1
}
