// cpuhog — burn CPU.
//
//	usage: cpuhog [threads] [seconds]
//	  spin [threads] (default 1) for [seconds] (default 5), exit 0
//	  cpuhog -V | --version   print the version
//
// Spins [threads] OS threads (default 1) for [seconds] (default 5;
// fractions allowed), then exits 0. Each spinner is a goroutine locked to
// its own thread, and GOMAXPROCS is raised so that all of them run at once
// (the Go runtime would otherwise cap them at the CPU count or the
// cgroup's cpu.max). It prints nothing but errors; a usage error is one
// line and exits 2.

package hogs

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const cpuhogUsage = `usage: cpuhog [threads] [seconds]
  spin [threads] (default 1) for [seconds] (default 5), exit 0
  cpuhog -V | --version   print the version
`

// maxThreads bounds cpuhog's threads (Go's default thread limit is 10000).
const maxThreads = 4096

// Cpuhog: cpuhog [threads] [seconds]
func Cpuhog(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	pos, code, ok := parseArgs("cpuhog", cpuhogUsage, args, 2, stdout, stderr)
	if !ok {
		return code
	}
	threads := int64(1)
	spin := 5 * time.Second
	var err error
	if len(pos) >= 1 {
		threads, err = parseCount("threads", pos[0], 1, maxThreads)
	}
	if err == nil && len(pos) == 2 {
		spin, err = parseSeconds(pos[1])
	}
	if err != nil {
		return usageErr(stderr, "cpuhog", err.Error())
	}
	burn(int(threads), spin)
	return 0
}

// sink keeps the spinners' work observable so it is not optimised away.
var sink atomic.Uint64

// burn spins threads OS threads for d.
func burn(threads int, d time.Duration) {
	// One P per spinner, plus one so the timer that stops them runs.
	if runtime.GOMAXPROCS(0) < threads+1 {
		runtime.GOMAXPROCS(threads + 1)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			x := seed
			for !stop.Load() {
				for j := 0; j < 1<<14; j++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			sink.Add(x)
		}(uint64(i))
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
}
