module cgroupd

go 1.26.8

// No background GOMAXPROCS updates (default since Go 1.25): they start a
// goroutine, so another thread, at every start-up, and make sysmon re-read
// the CPU affinity and cgroup quota every second. A one-shot cgroupctl
// exits long before the first update; the daemon runs one event loop and
// gains nothing from one. The start-up value is unchanged (containermaxprocs
// stays on: turning it off saves no syscalls, the runtime reads the cgroup
// at start either way).
godebug updatemaxprocs=0

require golang.org/x/sys v0.50.0
