// Package daemon is the cgroupd applet: a host-local job runner that owns a
// cgroup v2 subtree.
//
// Its -h text (usage in flags.go) is its synopsis:
//
//	usage: cgroupd [options]
//	  -r, --root PATH                 cgroup v2 directory to own, created if missing (default:
//	                                  <mount>/cgroupd.slice for root; for others cgroupd.slice under
//	                                  user@<uid>.service, else beside the daemon's own cgroup)
//	  -s, --socket PATH               Unix socket path (default: $CGROUPD_SOCKET,
//	                                  /run/cgroupd.sock for root,
//	                                  /run/user/<uid>/cgroupd.sock or
//	                                  /tmp/cgroupd-<uid>.sock for others)
//	  -d, --debug                     debug logging
//	  -L, --log-dir PATH              capture each job's stdout+stderr in PATH/<id>.log
//	      --log-max-size SIZE         disk space one job's log may use; the oldest output is dropped
//	                                  beyond it (default 8M, at least 64K; max: unbounded)
//	      --log-retain N              keep the logs of each user's newest N removed jobs, delete older ones
//	                                  (default 1000)
//	  -k, --mem-kill-avg10 X          kill a victim at memory.full.avg10 >= X (default 60)
//	      --mem-freeze-some-avg10 X   freeze a low-priority victim at memory.some.avg10 >= X (default 20)
//	      --cpu-demote-some-avg10 X   halve cpu.weight of low-priority jobs at cpu.some.avg10 >= X (default 50)
//	      --io-freeze-full-avg10 X    freeze a low-priority victim at io.full.avg10 >= X (default 30)
//	      --mem-admit-some-avg10 X    refuse RUN at memory.some.avg10 >= X (default 80)
//	      --mem-admit-full-avg10 X    refuse RUN at memory.full.avg10 >= X (default 15)
//	      --cpu-admit-some-avg10 X    refuse RUN at cpu.some.avg10 >= X (default 95)
//	      --io-admit-full-avg10 X     refuse RUN at io.full.avg10 >= X (default 80)
//	      --pressure-window DURATION  span the ladder's stall percentages are measured over (default 500ms)
//	      --pressure-sustain DURATION how long a rule must hold before the engine acts (default 200ms)
//	      --pressure-cooldown DURATION least time between two actions of one rule (default 1s)
//	      --pressure-hysteresis DURATION  calm needed before a thaw or a weight restore (default 2s)
//	      --dry-run                   evaluate and report pressure decisions (dry_run=1), act on none
//	      --host-pressure DIR         host pressure files read by admission, STATS and the host PSI rule
//	                                  (default /proc/pressure)
//	      --host-mem-kill-pct X       kill a victim as soon as MemAvailable < X% of MemTotal (default 10)
//	      --host-swap-kill-pct X      ... and, on a host with swap, SwapFree < X% of SwapTotal (default 10)
//	      --host-psi-kill X           kill a victim at host memory full stall >= X% (default 60)
//	      --host-meminfo PATH         host memory figures for the headroom rule (default /proc/meminfo)
//	      --host-reclaim-horizon DURATION  kill the growing lowest-priority job when free memory would reach
//	                                  the zones' low watermark within DURATION while protected jobs'
//	                                  memory is at risk (default 100ms; 0: off)
//	      --protect-priority N        jobs at or above priority N are protected: a higher
//	                                  cpu.weight, the reclaim rule (default 60, 31..100)
//	      --protect-memory-low        protected jobs (and the root) also get memory.low max
//	      --socket-group NAME|GID     chgrp the socket (mode 0660) so the group may connect
//	      --spawn-fallback            always start jobs by fork-and-attach (no clone3)
//	      --kill-fallback             always kill by freeze+SIGKILL+thaw (no cgroup.kill)
//	      --request-timeout DURATION  drop a client whose request is incomplete after this (default 30s)
//	      --write-timeout DURATION    drop a client that takes none of the bytes waiting for it (a reply,
//	                                  EVENTS or LOGS lines) for this long (default 30s)
//	      --max-user-conns N          most open connections per non-root uid (default 1024)
//	      --root-reserve N            descriptors at the top of the open file limit that only root's
//	                                  connections and jobs may take (default 256)
//	      --conn-memory SIZE          memory all connections' buffers may hold; over it the largest
//	                                  connection of the non-root user holding the most is dropped
//	                                  (default 32M, at least 8M)
//	      --metrics-file PATH         write the Prometheus metrics (METRICS) to PATH every --metrics-interval,
//	                                  atomically (temp file + rename), for node_exporter's textfile collector
//	      --metrics-interval DURATION how often --metrics-file is written (default 15s, at least 1s)
//	      --max-user-priority N       highest priority a non-root caller may request (default 30: its jobs
//	                                  stay pressure candidates); above it RUN is refused
//	      --max-user-jobs N           most live + pending jobs per non-root uid (default 256)
//	      --max-user-ended N          most ended jobs kept per non-root uid: past it its oldest ended
//	                                  job is removed, as REMOVE does (default 128; 0: no bound)
//	      --max-user-run-bytes SIZE   most bytes of argv + env a non-root caller's RUN may carry
//	                                  (default 64K; max: no bound); above it RUN is refused
//	      --max-user-ulimit NAME=SOFT[:HARD]  the most of a resource limit a non-root caller's job may
//	                                  have (repeatable; default: the job default's hard limit); a
//	                                  RUN asking more is refused, and the defaults are lowered to it
//	      --state-dir PATH            job records that outlive the daemon: a restart adopts the jobs
//	                                  (default /run/cgroupd/<root> for root, else under $XDG_RUNTIME_DIR
//	                                  or /tmp/cgroupd-<uid>; none: keep no records)
//	  -h, --help                      this help
//	A negative threshold turns that rule off. The ladder's thresholds (-k, --mem-freeze-some-avg10,
//	--cpu-demote-some-avg10, --io-freeze-full-avg10) are percentages of time stalled over
//	--pressure-window, measured from the root's PSI totals; the admission thresholds compare the
//	kernel's avg10 of the host (a RUN with queue_timeout waits as a pending job instead).
//	Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for a usage error.
//
// cgroupd listens on a Unix socket (spec/PROTOCOL.md) and starts each job
// in its own cgroup <root>/<id>, as the uid/gid (and supplementary groups)
// of the client that asked (SO_PEERCRED). A non-root client sees and acts
// on its own jobs only; QUIT is reserved to root and the daemon's user. The
// socket is created mode 0660; --socket-group gives a group access.
//
// On start it logs "using cgroup root: <path>" and, once it accepts clients,
// "cgroupd ready" on stderr. Events (spec/EVENTS.md) are "EVENT ..." lines
// on stderr; human log lines never start with "EVENT ". When its own cgroup
// is the root (systemd Delegate=yes) it first moves itself into
// <root>/_daemon. It refuses to start on a socket path that answers, and
// replaces a stale socket file.
//
// Pressure engine (package guard, policy in ./pressure): PSI triggers on the
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
// Queued admission (supervisor/queue.go): RUN with queue_timeout waits as a pending
// job while admission blocks it, and gets its reply when it starts, or the
// admission reason at the timeout.
//
// Verbs: RUN LIST INSPECT STATS FREEZE THAW KILL WAIT REMOVE PING QUIT, and
// the extensions LOGS (id, optional follow: 1) which streams the job's log,
// EVENTS (package hub), TOP (package top), UPGRADE (upgrade.go) and
// METRICS (package metrics) which answers the Prometheus text exposition after its
// STATUS block; --metrics-file writes the same text to a file.
//
// Jobs outlive the daemon (the job model, package journal, the
// supervisor's adoption): each job
// has a record in --state-dir; a daemon started on the root after a crash
// adopts the running jobs and knows the ended ones. UPGRADE and SIGUSR2
// re-execute the binary in place, handing over jobs and connections.
//
// A job's end (its main process) stops everything else in its cgroup; its
// state is exited (exit 0), failed (other exit or signal) or killed
// (SIGKILL). SIGTERM, SIGINT or QUIT kill the remaining jobs (job.kill
// with reason=shutdown, an extension), remove every job cgroup, record and
// the socket, and exit 0. SIGHUP is ignored; SIGUSR2 upgrades. REMOVE
// deletes a job's cgroup and record but keeps its log file. LIST reports memory_current and pids_current of
// ended jobs as 0 without reading their cgroup.
//
// The packages and how a RUN and a job's end flow through them: wire.go
// and README "How the daemon is built".
//
// Under systemd (Type=notify, sdnotify.go) it sends READY=1 once it accepts
// clients, STATUS= with the job counts, WATCHDOG=1 when $WATCHDOG_USEC asks
// for it and STOPPING=1 at shutdown. Job logs are bounded from outside
// (package logstore): holes punched at the head, LOGS skips them with a marker.
package daemon
