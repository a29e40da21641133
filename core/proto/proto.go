// Package proto is the cgroupd v1 line protocol (spec/PROTOCOL.md):
// request framing and parsing, request encoding for clients, and response
// building. It does no I/O of its own beyond the io.Reader it is handed.
package proto

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxRequest is the largest request the daemon accepts.
const MaxRequest = 4 << 20

// MaxHeaders is the most header lines a request may have: 4 MiB of
// shortest lines is 380 000 of them, whose parsing and checking cost the
// loop some hundreds of ms; at this bound, tens. A real RUN's argv and
// environment are far below it (execve takes at most a few MiB of them).
const MaxHeaders = 1 << 16

// ErrTooManyHeaders is returned by Parse for more than MaxHeaders
// header lines.
var ErrTooManyHeaders = errors.New("more than 65536 header lines")

// ErrMalformed is returned for a header line without ':'; its text is the
// protocol reason clients match on.
var ErrMalformed = errors.New("malformed headers")

// ErrEmptyKey is returned by Parse for a header line with nothing before
// its ':'. It wraps ErrMalformed: the reason is the same.
var ErrEmptyKey error = emptyKeyError{}

// emptyKeyError is ErrEmptyKey: a type rather than fmt.Errorf, which would
// run fmt at start-up in every applet of the binary.
type emptyKeyError struct{}

func (emptyKeyError) Error() string { return ErrMalformed.Error() + ": empty key" }
func (emptyKeyError) Unwrap() error { return ErrMalformed }

// ErrEmptyVerb is returned by Parse when the verb line is blank, and by
// Encode for a request without a verb.
var ErrEmptyVerb = errors.New("empty verb")

// ErrCRLF is wrapped by the error Encode returns for a key or value that
// contains CR or LF.
var ErrCRLF = errors.New("must not contain CR or LF")

// Header is one "key: value" line.
type Header struct{ Key, Value string }

// Request is a parsed request: the verb and its headers in order.
type Request struct {
	Verb    string
	Headers []Header
}

// Get returns the first value of key.
func (r *Request) Get(key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return "", false
}

// All returns every value of a repeatable key, in order.
func (r *Request) All(key string) []string {
	n := 0
	for _, h := range r.Headers {
		if h.Key == key {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n) // counted first: no copies as it grows
	for _, h := range r.Headers {
		if h.Key == key {
			out = append(out, h.Value)
		}
	}
	return out
}

// Repeatable is the set of request keys that may be given more than once
// (PROTOCOL.md: their order is kept). Every other key is a scalar.
var Repeatable = map[string]bool{"arg": true, "env": true, "io_max": true, "require_path": true, "service": true, "ulimit": true}

// Repeated returns the first scalar key (one not in Repeatable) that the
// request gives more than once: a strict peer refuses the ambiguity
// instead of taking one of the values. "First" is by the key's first
// line. Linear in the number of headers (a 4 MiB request holds about
// 380 000 of them): a few compare pairwise, more go through a map.
func (r *Request) Repeated() (string, bool) {
	if len(r.Headers) <= pairwiseMax {
		for i, h := range r.Headers {
			if Repeatable[h.Key] {
				continue
			}
			for _, o := range r.Headers[i+1:] {
				if o.Key == h.Key {
					return h.Key, true
				}
			}
		}
		return "", false
	}
	// first[key] is the index of key's first line, or -1 once key is
	// known to repeat; the answer is the repeated key whose first line
	// comes first.
	first := make(map[string]int, len(r.Headers))
	best := -1
	for i, h := range r.Headers {
		if Repeatable[h.Key] {
			continue
		}
		j, seen := first[h.Key]
		if !seen {
			first[h.Key] = i
			continue
		}
		if best < 0 || j < best {
			best = j
		}
	}
	if best < 0 {
		return "", false
	}
	return r.Headers[best].Key, true
}

// pairwiseMax is the most headers Repeated compares pairwise (at most
// 120 comparisons, cheaper than making a map).
const pairwiseMax = 16

// MaxEcho is the most bytes of a client's value that a reply echoes back.
const MaxEcho = 128

// Cut bounds a value the client sent before it is echoed in a reply: at
// most MaxEcho bytes (never half a UTF-8 character), marked as cut with
// the whole length.
func Cut(s string) string { return CutAt(s, MaxEcho) }

// CutAt is Cut with a bound of max bytes.
func CutAt(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "...(cut, " + strconv.Itoa(len(s)) + " bytes)"
}

// Add appends a header; it returns r for chaining.
func (r *Request) Add(key, value string) *Request {
	r.Headers = append(r.Headers, Header{key, value})
	return r
}

// isSpace is C's isspace: the "white space" of PROTOCOL.md.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

func trimRightSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isBlank(line []byte) bool { return len(trimRightSpace(line)) == 0 }

// End returns the offset just past the line that ends the request in buf,
// or -1 if that line has not arrived. The request ends at the first blank
// line (empty, or white space only such as "\r"); a blank verb line ends it
// at once, so an empty request cannot hold a connection open.
func End(buf []byte) int {
	off := 0
	for {
		i := bytes.IndexByte(buf[off:], '\n')
		if i < 0 {
			return -1
		}
		if isBlank(buf[off : off+i]) {
			return off + i + 1
		}
		off += i + 1
	}
}

// Complete reports whether buf holds a whole request, i.e. the blank line
// that ends it has arrived. (A half-close also ends a request; the caller
// knows that from read returning 0.)
func Complete(buf []byte) bool { return End(buf) >= 0 }

// Parse parses a request (verb line, header lines, optional blank line).
// Every key and value is part of one string, a copy of the request: what
// outlives the request is cloned by its keeper (strings.Clone).
// Errors: ErrMalformed for a header without ':', ErrEmptyKey (which wraps
// it) for a header whose key is empty, ErrTooManyHeaders past MaxHeaders;
// an error for an empty verb.
//
// Trimming (PROTOCOL.md): the verb loses leading spaces and trailing white
// space; a header is split at its first ':', the key loses trailing white
// space, the value leading spaces and tabs and trailing white space.
// Parsing stops at the first blank line; anything after it is ignored. A
// last line without '\n' (the client half-closed) is a header like any
// other.
func Parse(buf []byte) (Request, error) {
	var req Request
	if end := End(buf); end >= 0 {
		buf = buf[:end]
	}
	// One string for the whole request, which every key and value is a
	// part of: two allocations per header made a full request (380 000
	// headers) cost as much in the allocator and the collector as the
	// parsing itself. The request's strings share its lifetime.
	text := string(buf)
	line, rest, _ := strings.Cut(text, "\n")
	verb := trimRightSpaceString(strings.TrimLeft(line, " "))
	if len(verb) == 0 {
		return Request{}, ErrEmptyVerb
	}
	req.Verb = verb
	n := strings.Count(rest, "\n") + 1 // at most this many headers
	for len(rest) > 0 {
		line, rest, _ = strings.Cut(rest, "\n")
		if len(trimRightSpaceString(line)) == 0 {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return Request{}, ErrMalformed
		}
		key := trimRightSpaceString(k)
		if len(key) == 0 {
			return Request{}, ErrEmptyKey
		}
		if req.Headers == nil {
			req.Headers = make([]Header, 0, min(n, MaxHeaders))
		}
		if len(req.Headers) == MaxHeaders {
			return Request{}, ErrTooManyHeaders
		}
		req.Headers = append(req.Headers, Header{
			Key:   key,
			Value: trimRightSpaceString(strings.TrimLeft(v, " \t")),
		})
	}
	return req, nil
}

func trimRightSpaceString(s string) string {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// Encode serialises a request for sending. A key or value containing CR or
// LF is refused with an error "<key> must not contain CR or LF".
//
// A key must not contain ':' either (the peer splits at the first one).
// Leading and trailing white space of a value does not survive the trip:
// the peer strips it.
func (r *Request) Encode() ([]byte, error) {
	if strings.TrimLeft(r.Verb, " ") == "" {
		return nil, ErrEmptyVerb
	}
	if strings.ContainsAny(r.Verb, "\r\n") {
		return nil, fmt.Errorf("verb %w", ErrCRLF)
	}
	n := len(r.Verb) + 2
	for _, h := range r.Headers {
		if strings.ContainsAny(h.Key, "\r\n") || strings.ContainsAny(h.Value, "\r\n") {
			return nil, fmt.Errorf("%s %w", h.Key, ErrCRLF)
		}
		if strings.IndexByte(h.Key, ':') >= 0 {
			return nil, fmt.Errorf("header key %q must not contain ':'", h.Key)
		}
		n += len(h.Key) + len(h.Value) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, r.Verb...)
	b = append(b, '\n')
	for _, h := range r.Headers {
		b = append(b, h.Key...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, '\n')
	}
	return append(b, '\n'), nil
}

// DefaultSocket is the default socket path of PROTOCOL.md for uid, without
// $CGROUPD_SOCKET (the applets read the environment, core does not):
// /run/cgroupd.sock for uid 0; else /run/user/<uid>/cgroupd.sock when
// dirExists("/run/user/<uid>"), else /tmp/cgroupd-<uid>.sock.
func DefaultSocket(uid int, dirExists func(path string) bool) string {
	if uid == 0 {
		return "/run/cgroupd.sock"
	}
	u := strconv.Itoa(uid)
	if dir := "/run/user/" + u; dirExists != nil && dirExists(dir) {
		return dir + "/cgroupd.sock"
	}
	return "/tmp/cgroupd-" + u + ".sock"
}

// Response builds one response block.
type Response struct{ b []byte }

// OK starts a "STATUS: ok" block.
func OK() *Response { return &Response{b: []byte("STATUS: ok\n")} }

// Err starts a "STATUS: err" block with "reason: <reason>".
func Err(reason string) *Response {
	r := &Response{b: []byte("STATUS: err\n")}
	return r.Add("reason", reason)
}

// Block builds a bare key/value block without a STATUS line (the per-job
// blocks of LIST).
func Block() *Response { return &Response{} }

// sanitise replaces CR and LF with spaces so a value stays on its line.
func sanitise(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// Add appends "key: value". Values are sanitised: CR/LF become spaces.
// (Keys too: the daemon's keys are constants, but a line must stay a line.)
func (r *Response) Add(key, value string) *Response {
	r.b = append(r.b, sanitise(key)...)
	r.b = append(r.b, ": "...)
	r.b = append(r.b, sanitise(value)...)
	r.b = append(r.b, '\n')
	return r
}

// AddInt appends "key: <decimal v>".
func (r *Response) AddInt(key string, v int64) *Response {
	r.b = append(r.b, sanitise(key)...)
	r.b = append(r.b, ": "...)
	r.b = strconv.AppendInt(r.b, v, 10)
	r.b = append(r.b, '\n')
	return r
}

// Bytes returns the block including its terminating blank line.
func (r *Response) Bytes() []byte { return r.AppendTo(make([]byte, 0, len(r.b)+1)) }

// AppendTo appends the block, including its terminating blank line, to dst
// (LIST builds one buffer out of many blocks).
func (r *Response) AppendTo(dst []byte) []byte {
	dst = append(dst, r.b...)
	return append(dst, '\n')
}
