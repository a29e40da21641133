package server

import (
	"errors"
	"io"
	"os"

	"cgroupd/applets/daemon/logstore"
	"cgroupd/applets/daemon/supervisor"
	"cgroupd/core/proto"
)

// LOGS (extension): request keys id, optional follow: 1. The reply is
// "STATUS: ok\nid: <id>\n\n" followed by the raw bytes of the job's log
// file, streamed as the socket drains (never the whole file in memory).
// Without follow the connection closes at end of file; with follow it
// keeps sending as the file grows and closes once the job has ended and
// everything was sent. The daemon reads the file as root, so any caller
// that may see the job gets its log. Errors: `no such job`, `no log`.
//
// A log trimmed by --log-max-size (package logstore) starts with a hole: the
// stream skips it and sends, in its place, one line
// "[cgroupd: N bytes of log dropped (--log-max-size)]" (after a newline
// when the text before it did not end with one). A follower the trim
// overtakes gets the same line for the bytes it missed. A hole the job
// made itself (truncate -s, fallocate, a write past its end) is skipped
// likewise, with one line "[cgroupd: N bytes of log skipped (a hole)]":
// a stream sends the file's data, never the zeros of a sparse file (at
// most the rest of a block around the data; a hole at the end is not
// sent).

// logStream is a LOGS reply in progress.
type logStream struct {
	f      *os.File
	job    *supervisor.Job
	follow bool
	pos    int64 // next file offset to send
	midLn  bool  // the last byte sent was not a newline
}

func (st *streams) doLogs(c *conn, r *proto.Request) []byte {
	j, e := st.srv.lookup(c, r)
	if j == nil {
		return e
	}
	if st.srv.logs == nil || j.Log() == "" {
		return proto.Err("no log").Add("id", j.ID()).Bytes()
	}
	f, err := st.srv.logs.Open(j.Log())
	if err != nil {
		return proto.Err("no log").Add("id", j.ID()).Add("detail", err.Error()).Bytes()
	}
	follow := false
	if v, ok := r.Get("follow"); ok && v != "" && v != "0" {
		follow = true
	}
	ls := &logStream{f: f, job: j, follow: follow && !j.IsEnded()}
	if ls.follow {
		if err := st.follow(c, j); err != nil {
			f.Close()
			return proto.Err("no log").Add("id", j.ID()).Add("detail", "watch: "+err.Error()).Bytes()
		}
	}
	c.log = ls
	st.srv.send(c, proto.OK().Add("id", j.ID()).Bytes())
	return nil
}

// fillLog reads the next chunk of the log into the (empty) write buffer.
// It returns true when bytes were queued. At end of file it closes the
// connection, or, when following a live job, idles until the file grows or
// the job ends.
func (st *streams) fillLog(c *conn) bool {
	ls := c.log
	if cap(c.wbuf) < readChunk {
		c.wbuf = make([]byte, 0, readChunk)
	}
	if t := st.srv.logs.Trimmed(ls.job.Log()); ls.pos < t {
		c.wbuf = append(c.wbuf[:0], logstore.Marker(t-ls.pos, ls.midLn)...)
		ls.pos, ls.midLn = t, false
		return true
	}
	data, end, err := logstore.Data(ls.f, ls.pos)
	if err != nil {
		st.srv.debugf("logs %s: %v", ls.job.ID(), err)
		st.srv.closeConn(c)
		return false
	}
	if data > ls.pos {
		c.wbuf = append(c.wbuf[:0], logstore.HoleMarker(data-ls.pos, ls.midLn)...)
		ls.pos, ls.midLn = data, false
		return true
	}
	n, err := ls.f.ReadAt(c.wbuf[:min(readChunk, end-ls.pos)], ls.pos)
	if n > 0 {
		c.wbuf = c.wbuf[:n]
		ls.pos += int64(n)
		ls.midLn = c.wbuf[n-1] != '\n'
		return true
	}
	c.wbuf = c.wbuf[:0]
	if err != nil && !errors.Is(err, io.EOF) {
		st.srv.debugf("logs %s: %v", ls.job.ID(), err)
		st.srv.closeConn(c)
		return false
	}
	if ls.follow && !ls.job.IsEnded() {
		c.wbuf = nil         // an idle follower holds no chunk
		st.srv.setMask(c, 0) // idle; EPOLLHUP still reports a client that left
		return false
	}
	st.srv.closeConn(c)
	return false
}

// pumpLog resumes an idle LOGS stream (the file grew or the job ended).
func (st *streams) pumpLog(c *conn) {
	if c.closed || c.log == nil || c.wpos < len(c.wbuf) {
		return
	}
	st.srv.flush(c)
}

// closeLog ends a LOGS stream's file and follow registration.
func (st *streams) closeLog(c *conn) {
	ls := c.log
	c.log = nil
	ls.f.Close()
	j := ls.job
	if _, ok := st.followers[j][c]; ok {
		delete(st.followers[j], c)
		if len(st.followers[j]) == 0 {
			delete(st.followers, j)
		}
		st.srv.sup.UnfollowLog(j)
		st.srv.sup.Release(j, supervisor.Reading)
	}
}
