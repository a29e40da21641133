// Package spawner does the fork/exec part of RUN off the loop thread, and
// knows the facts of a process the records name it by (its start time).
package spawner

import (
	"strconv"
	"sync"

	"cgroupd/core/hostmem"
	"cgroupd/core/spawn"

	"golang.org/x/sys/unix"
)

// The spawner does the fork/exec part of RUN off the loop thread. Go's
// ForkExec returns only once the child has exec'd (a vfork), which is most
// of a RUN's cost; on the loop it kept every other client waiting and left
// the second core idle. The loop still does everything else, in order and
// alone: admission, ids, the cgroup and its limits, watches, the log file,
// then, when the spawner reports back through an eventfd, the job table,
// job.start and the reply. A RUN is answered only once its job really runs
// (or is refused with its reason).
//
// One spawner goroutine is enough: Go holds syscall.ForkLock until the
// child has exec'd, so forks cannot overlap anyway. Being one also keeps
// the oom_score_adj hand-off right (protect.go): the process-wide value is
// the job's while its processes are forked, and goes back to the daemon's
// -1000 when no spawn is left to do.

// Req is one job's processes to start: services first, the main
// process last.
type Req struct {
	Cmds []*spawn.Cmd
	Adj  int // oom_score_adj the processes start with

	// Set by the spawner: the processes started (in Cmds order) and the
	// error that stopped it, if any.
	Procs     []spawn.Proc
	Err       error
	MainStart string // start time of the main process, for its record

	Done func(*Req) // run on the loop
}

// Spawner is the one goroutine that forks: its results reach the loop
// through an eventfd (FD, OnReady).
type Spawner struct {
	efd    int                  // eventfd: results are waiting
	oomAdj *hostmem.OOMScoreAdj // nil: processes inherit the daemon's value

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*Req
	results []*Req
	closed  bool
}

// New starts the spawner; oomAdj (nil: none) is the daemon's own
// oom_score_adj, set to each job's value while its processes fork.
func New(oomAdj *hostmem.OOMScoreAdj) (*Spawner, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	s := &Spawner{efd: efd, oomAdj: oomAdj}
	s.cond = sync.NewCond(&s.mu)
	go s.run()
	return s, nil
}

// Submit queues r; r.Done runs on the loop once its processes started or
// failed.
func (s *Spawner) Submit(r *Req) {
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.cond.Signal()
	s.mu.Unlock()
}

func (s *Spawner) run() {
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		r := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()

		if s.oomAdj != nil {
			// Raising the value needs no privilege; lowering it back needs
			// CAP_SYS_RESOURCE, which a daemon at -1000 has.
			if err := s.oomAdj.Set(r.Adj); err != nil {
				r.Err = err
			}
		}
		var t0, t1 int64 // around the main process's spawn
		if r.Err == nil {
			for _, c := range r.Cmds {
				t0 = bootNs()
				p, err := spawn.Start(c)
				t1 = bootNs()
				if err != nil {
					r.Err = err
					break
				}
				r.Procs = append(r.Procs, p)
			}
		}

		if r.Err == nil && len(r.Procs) > 0 {
			st, ok := startBetween(t0, t1)
			if !ok {
				var err error
				st, err = PidStart(r.Procs[len(r.Procs)-1].Pid)
				ok = err == nil
			}
			if ok {
				r.MainStart = strconv.FormatUint(st, 10)
			}
		}
		s.mu.Lock()
		if len(s.queue) == 0 && s.oomAdj != nil {
			s.oomAdj.Set(DaemonOOMScoreAdj)
		}
		s.results = append(s.results, r)
		s.mu.Unlock()
		unix.Write(s.efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
}

// onReady runs the done callbacks of the finished requests (on the loop).
func (s *Spawner) OnReady() {
	var b [8]byte
	unix.Read(s.efd, b[:])
	s.mu.Lock()
	rs := s.results
	s.results = nil
	s.mu.Unlock()
	for _, r := range rs {
		r.Done(r)
	}
}

// close stops the goroutine once the queue is done with.
func (s *Spawner) Close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Signal()
	s.mu.Unlock()
	unix.Close(s.efd)
}

// FD is the eventfd the loop watches (EPOLLIN): results are waiting.
func (s *Spawner) FD() int { return s.efd }

// DaemonOOMScoreAdj is the daemon's own oom_score_adj (root only): the
// spawner sets it back once no job is left to start.
const DaemonOOMScoreAdj = -1000
