// Package retain bounds the ended jobs each user keeps (--max-user-ended).
// An ended job costs a cgroup and a record until REMOVE, and the cap on a
// user's jobs (--max-user-jobs) counts live ones only: without a bound,
// one user could pile up thousands of either. This package only counts
// and picks; the supervisor removes what it picks, as REMOVE does.
package retain

// Ended holds, per uid, the jobs that ended, oldest first. The zero
// value keeps no bound until Max is set.
type Ended[J comparable] struct {
	Max   int // ended jobs kept per uid; 0: no bound
	byUID map[uint32][]J
}

// Add counts j, a job of uid that has just ended, and returns the jobs of
// uid to remove, oldest first: as many as uid has beyond Max, passing over
// those busy says must stay for now (a later Add picks them). kept says
// whether a job counted before is still there (not removed since): the
// others are dropped from the count.
func (e *Ended[J]) Add(uid uint32, j J, kept, busy func(J) bool) []J {
	if e.Max <= 0 {
		return nil
	}
	if e.byUID == nil {
		e.byUID = map[uint32][]J{}
	}
	list := e.byUID[uid][:0]
	for _, x := range e.byUID[uid] {
		if kept(x) {
			list = append(list, x)
		}
	}
	clear(e.byUID[uid][len(list):])
	list = append(list, j)
	e.byUID[uid] = list
	var out []J
	for i := 0; i < len(list) && len(list)-len(out) > e.Max; i++ {
		if !busy(list[i]) {
			out = append(out, list[i])
		}
	}
	return out
}
