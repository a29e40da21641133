package bench

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cgroupd/core/proto"
)

// maxShown bounds the failures a load prints on stderr.
const maxShown = 5

// result is the outcome of a load: per-request latency of the requests
// that got STATUS: ok, in completion order, and the failures.
type result struct {
	lat     []time.Duration
	ok      []bool // by request index
	nerr    int
	errs    []string // the first maxShown failures
	elapsed time.Duration
	first   []byte // an ok response, for its size and keys
}

// load sends reqs[i] for every i with `workers` concurrent connections at
// most, each request on its own connection, and times each one from
// connect to EOF. A response is ok when its STATUS block says ok.
func (c *client) load(reqs [][]byte, workers int) *result {
	workers = max(1, min(workers, len(reqs)))
	r := &result{ok: make([]bool, len(reqs))}
	var (
		next      atomic.Int64
		haveFirst atomic.Bool
		mu        sync.Mutex
		wg        sync.WaitGroup
	)
	lats := make([][]time.Duration, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 64<<10)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				t0 := time.Now()
				resp, err := c.do(reqs[i], buf)
				d := time.Since(t0)
				buf = resp
				if err == nil {
					err = quickCheck(resp)
				}
				if err != nil {
					mu.Lock()
					r.nerr++
					if len(r.errs) < maxShown {
						r.errs = append(r.errs, fmt.Sprintf("request %d: %v", i, err))
					}
					mu.Unlock()
					continue
				}
				r.ok[i] = true
				lats[w] = append(lats[w], d)
				if !haveFirst.Load() {
					mu.Lock()
					if r.first == nil {
						r.first = bytes.Clone(resp)
						haveFirst.Store(true)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	return r
}

// report prints the failures on stderr and says whether there were any.
func (r *result) report(stderr io.Writer, what string) error {
	for _, e := range r.errs {
		fmt.Fprintf(stderr, "cgroupbench: %s: %s\n", what, e)
	}
	if r.nerr > len(r.errs) {
		fmt.Fprintf(stderr, "cgroupbench: %s: … %d failures in all\n", what, r.nerr)
	}
	if r.nerr > 0 {
		return errFailed
	}
	return nil
}

var statusLine = []byte("STATUS: ")

// quickCheck finds the last STATUS line without parsing every block (a
// LIST of 10 000 jobs is megabytes); only a failure is parsed in full.
func quickCheck(resp []byte) error {
	i := bytes.LastIndex(resp, statusLine)
	if i >= 0 && (i == 0 || resp[i-1] == '\n') && bytes.HasPrefix(resp[i+len(statusLine):], []byte("ok")) {
		return nil
	}
	if i < 0 {
		return fmt.Errorf("no STATUS line in %q", clip(resp))
	}
	return check(resp[lineStart(resp, i):])
}

func lineStart(b []byte, i int) int {
	return bytes.LastIndexByte(b[:i], '\n') + 1
}

// statusValue returns the value of key in the response's STATUS block.
func statusValue(resp []byte, key string) (string, bool) {
	i := bytes.LastIndex(resp, statusLine)
	if i < 0 {
		return "", false
	}
	rep, err := parse(resp[lineStart(resp, i):], nil)
	if err != nil {
		return "", false
	}
	return rep.Get(key)
}

// encode builds one request.
func encode(verb string, kv ...string) ([]byte, error) {
	req := &proto.Request{Verb: verb}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Add(kv[i], kv[i+1])
	}
	return req.Encode()
}

// runRequest builds a RUN request; priority < 0 leaves the key out.
func runRequest(id string, argv []string, priority int) ([]byte, error) {
	kv := []string{"id", id}
	if priority >= 0 {
		kv = append(kv, "priority", fmt.Sprint(priority))
	}
	for _, a := range argv {
		kv = append(kv, "arg", a)
	}
	return encode("RUN", kv...)
}

// job is one LIST entry.
type job struct{ id, state string }

// list returns the daemon's jobs.
func (c *client) list() ([]job, error) {
	var jobs []job
	rep, err := c.call(&proto.Request{Verb: "LIST"}, func(b proto.Reply) error {
		if b.Status == "" {
			id, _ := b.Get("id")
			st, _ := b.Get("state")
			jobs = append(jobs, job{id, st})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !rep.IsOK() {
		reason, _ := rep.Get("reason")
		return nil, fmt.Errorf("LIST: %s", reason)
	}
	return jobs, nil
}

// reap kills (when live, and kill is set), waits for and removes each job,
// with `workers` concurrent connections. It returns how many were removed
// and the failures.
func (c *client) reap(jobs []job, kill bool, workers int) (int, []string, int) {
	workers = max(1, min(workers, len(jobs)))
	var (
		next    atomic.Int64
		removed atomic.Int64
		mu      sync.Mutex
		errs    []string
		nerr    int
		wg      sync.WaitGroup
	)
	fail := func(id string, err error) {
		mu.Lock()
		nerr++
		if len(errs) < maxShown {
			errs = append(errs, fmt.Sprintf("%s: %v", id, err))
		}
		mu.Unlock()
	}
	one := func(verb, id string, buf []byte, kv ...string) ([]byte, error) {
		req, err := encode(verb, append([]string{"id", id}, kv...)...)
		if err != nil {
			return buf, err
		}
		resp, err := c.do(req, buf)
		if err == nil {
			err = quickCheck(resp)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", verb, err)
		}
		return resp, err
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				j := jobs[i]
				var err error
				if kill && isLive(j.state) {
					// A job that ended meanwhile answers KILL with an
					// error; WAIT below tells whether it matters.
					buf, _ = one("KILL", j.id, buf, "signal", "9")
				}
				if buf, err = one("WAIT", j.id, buf); err != nil {
					fail(j.id, err)
					continue
				}
				if buf, err = one("REMOVE", j.id, buf); err != nil {
					fail(j.id, err)
					continue
				}
				removed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(removed.Load()), errs, nerr
}

func isLive(state string) bool {
	switch state {
	case "exited", "failed", "killed":
		return false
	}
	return true
}

// reportReap prints reap's failures.
func reportReap(stderr io.Writer, what string, errs []string, nerr int) {
	for _, e := range errs {
		fmt.Fprintf(stderr, "cgroupbench: %s: %s\n", what, e)
	}
	if nerr > len(errs) {
		fmt.Fprintf(stderr, "cgroupbench: %s: … %d failures in all\n", what, nerr)
	}
}

// lower is strings.ToLower for a verb used in a key.
func lower(s string) string { return strings.ToLower(s) }
