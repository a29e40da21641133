// Package daemon is the cgroupd applet: a host-local job runner that owns a
// cgroup v2 subtree.
//
//	cgroupd [-r PATH] [-s PATH] [-d] [-L DIR] [-k X] [--mem-freeze-some-avg10 X]
//	        [--cpu-demote-some-avg10 X] [--io-freeze-full-avg10 X]
//	        [--mem-admit-some-avg10 X] [--mem-admit-full-avg10 X]
//	        [--cpu-admit-some-avg10 X] [--io-admit-full-avg10 X]
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
//	-k, --mem-kill-avg10 X          pressure engine thresholds (percent stalled;
//	    --mem-freeze-some-avg10 X   negative disables a rule): defaults 60, 20,
//	    --cpu-demote-some-avg10 X   50, 30
//	    --io-freeze-full-avg10 X
//	    --mem-admit-some-avg10 X    refuse RUN while host PSI is at or above
//	    --mem-admit-full-avg10 X    the threshold: defaults 80, 15, 95, 80
//	    --cpu-admit-some-avg10 X
//	    --io-admit-full-avg10 X
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
// Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for a
// usage error.
package daemon
