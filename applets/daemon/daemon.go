// Package daemon is the cgroupd applet: a host-local job runner that owns a
// cgroup v2 subtree.
//
//	cgroupd [-r PATH] [-s PATH] [-d] [-L DIR] [-k X] [--mem-freeze-some-avg10 X]
//	        [--cpu-demote-some-avg10 X] [--io-freeze-full-avg10 X]
//	        [--mem-admit-some-avg10 X] [--mem-admit-full-avg10 X]
//	        [--cpu-admit-some-avg10 X] [--io-admit-full-avg10 X]
//	        [--pressure-window D] [--pressure-sustain D] [--pressure-cooldown D]
//	        [--pressure-hysteresis D] [--dry-run] [--host-pressure DIR]
//	        [--host-mem-kill-pct X] [--host-swap-kill-pct X] [--host-psi-kill X]
//	        [--host-meminfo PATH]
//	        [--socket-group NAME|GID] [--spawn-fallback] [--kill-fallback]
//	        [--request-timeout DURATION]
//
// cgroupd listens on a Unix socket (spec/PROTOCOL.md) and starts each job
// in its own cgroup <root>/<id>, as the uid/gid (and supplementary groups)
// of the client that asked (SO_PEERCRED). A non-root client sees and acts
// on its own jobs only; QUIT is reserved to root and the daemon's user. The
// socket is created mode 0660; --socket-group gives a group access.
//
// Options:
//
//	-r, --root PATH                 cgroup v2 directory to own; created if
//	                                missing (only on cgroup2). Default:
//	                                <mount>/cgroupd.slice for root; for others
//	                                cgroupd.slice under user@<uid>.service, else
//	                                beside the daemon's own cgroup
//	-s, --socket PATH               socket path (default $CGROUPD_SOCKET, then
//	                                /run/cgroupd.sock for root, else
//	                                /run/user/<uid>/cgroupd.sock or
//	                                /tmp/cgroupd-<uid>.sock)
//	-d, --debug                     debug log lines
//	-L, --log-dir DIR               capture each job's stdout+stderr in
//	                                DIR/<id>.log (kept after REMOVE)
//	    --log-max-size SIZE         disk space one job's log may use; the
//	                                oldest output is dropped beyond it
//	                                (default 8M, least 64K, max: unbounded)
//	    --log-retain N              keep the logs of the newest N removed
//	                                jobs, delete older ones (default 1000)
//	-k, --mem-kill-avg10 X          pressure engine thresholds: percent of time
//	    --mem-freeze-some-avg10 X   stalled over --pressure-window, from the
//	    --cpu-demote-some-avg10 X   root's PSI totals (negative disables a
//	    --io-freeze-full-avg10 X    rule): defaults 60, 20, 50, 30
//	    --mem-admit-some-avg10 X    refuse RUN while host PSI avg10 is at or
//	    --mem-admit-full-avg10 X    above the threshold: defaults 80, 15, 95,
//	    --cpu-admit-some-avg10 X    80 (a RUN with queue_timeout waits instead)
//	    --io-admit-full-avg10 X
//	    --pressure-window D         span of the engine's measurement (500ms)
//	    --pressure-sustain D        how long a rule must hold to act (200ms)
//	    --pressure-cooldown D       least time between actions of a rule (1s)
//	    --pressure-hysteresis D     calm before a thaw or restore (2s)
//	    --dry-run                   report the engine's decisions (dry_run=1)
//	                                and carry none out
//	    --host-pressure DIR         host pressure files for admission,
//	                                STATS and the host PSI rule (default
//	                                /proc/pressure)
//	    --host-mem-kill-pct X       host headroom rule: kill when
//	    --host-swap-kill-pct X      MemAvailable < X% (and SwapFree < Y% with
//	                                swap): defaults 10, 10
//	    --host-psi-kill X           kill at host memory full stall >= X%
//	                                (default 60)
//	    --host-meminfo PATH         meminfo for the headroom rule (default
//	                                /proc/meminfo)
//	    --socket-group NAME|GID     chgrp the socket
//	    --spawn-fallback            start jobs by fork-and-attach instead of
//	                                clone3(CLONE_INTO_CGROUP)
//	    --kill-fallback             kill by freeze+SIGKILL+thaw instead of
//	                                cgroup.kill
//	    --request-timeout DURATION  answer "request timeout" and close a
//	                                connection whose request is not complete
//	                                after DURATION (default 30s)
//	-h, --help                      usage
//
// On start it logs "using cgroup root: <path>" and, once it accepts clients,
// "cgroupd ready" on stderr. Events (spec/EVENTS.md) are "EVENT ..." lines
// on stderr; human log lines never start with "EVENT ". When its own cgroup
// is the root (systemd Delegate=yes) it first moves itself into
// <root>/_daemon. It refuses to start on a socket path that answers, and
// replaces a stale socket file.
//
// Pressure engine (engine.go, policy in ./pressure): PSI triggers on the
// root's memory, cpu and io pressure wake it; it also samples every second
// and, while pressure is present, every 100 ms. Over the ladder it
// halves cpu.weight of jobs with priority <= 30 (restored when cpu
// pressure recedes), freezes the lowest-priority job on memory some or io
// full pressure (thawed once the pressure stayed low: only what it froze
// itself), and kills the lowest-priority, largest job on memory full
// pressure, once per overload. Each decision is a `pressure` event with
// its explanation appended, then job.kill/job.freeze/job.throttle with
// reason=pressure_*; thaws and restores have reason=pressure_receded.
// STATS appends the engine's current window measurement
// (pressure_window_ms, pressure_<mem|cpu|io>_<some|full>_pct), pending and
// dry_run.
//
// Queued admission (queue.go): RUN with queue_timeout waits as a pending
// job while admission blocks it, and gets its reply when it starts, or the
// admission reason at the timeout.
//
// Verbs: RUN LIST INSPECT STATS FREEZE THAW KILL WAIT REMOVE PING QUIT, and
// the extension LOGS (id, optional follow: 1) which streams the job's log.
// A job's end (its main process) stops everything else in its cgroup; its
// state is exited (exit 0), failed (other exit or signal) or killed
// (SIGKILL). SIGTERM, SIGINT or QUIT kill the remaining jobs (job.kill
// with reason=shutdown, an extension), remove every job cgroup and the
// socket, and exit 0. SIGHUP is ignored. REMOVE deletes a job's cgroup but
// keeps its log file. LIST reports memory_current and pids_current of
// ended jobs as 0 without reading their cgroup.
//
// Under systemd (Type=notify, sdnotify.go) it sends READY=1 once it accepts
// clients, STATUS= with the job counts, WATCHDOG=1 when $WATCHDOG_USEC asks
// for it and STOPPING=1 at shutdown. Job logs are bounded from outside
// (logtrim.go): holes punched at the head, LOGS skips them with a marker.
//
// Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for a
// usage error.
package daemon
