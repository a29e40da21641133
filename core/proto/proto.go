// Package proto is the cgroupd v1 line protocol (spec/PROTOCOL.md):
// request framing and parsing, request encoding for clients, and response
// building. It does no I/O of its own beyond the io.Reader it is handed.
package proto

import "errors"

// MaxRequest is the largest request the daemon accepts.
const MaxRequest = 4 << 20

// ErrMalformed is returned for a header line without ':'; its text is the
// protocol reason clients match on.
var ErrMalformed = errors.New("malformed headers")

// Header is one "key: value" line.
type Header struct{ Key, Value string }

// Request is a parsed request: the verb and its headers in order.
type Request struct {
	Verb    string
	Headers []Header
}

// Get returns the first value of key.
func (r *Request) Get(key string) (string, bool) { panic("unimplemented") }

// All returns every value of a repeatable key, in order.
func (r *Request) All(key string) []string { panic("unimplemented") }

// Complete reports whether buf holds a whole request, i.e. the blank line
// that ends it has arrived. (A half-close also ends a request; the caller
// knows that from read returning 0.)
func Complete(buf []byte) bool { panic("unimplemented") }

// Parse parses a request (verb line, header lines, optional blank line).
// Errors: ErrMalformed for a header without ':'; an error for an empty verb.
func Parse(buf []byte) (Request, error) { panic("unimplemented") }

// Encode serialises a request for sending. A key or value containing CR or
// LF is refused with an error "<key> must not contain CR or LF".
func (r *Request) Encode() ([]byte, error) { panic("unimplemented") }

// Response builds one response block.
type Response struct{ b []byte }

// OK starts a "STATUS: ok" block.
func OK() *Response { panic("unimplemented") }

// Err starts a "STATUS: err" block with "reason: <reason>".
func Err(reason string) *Response { panic("unimplemented") }

// Add appends "key: value". Values are sanitised: CR/LF become spaces.
func (r *Response) Add(key, value string) *Response { panic("unimplemented") }

// Bytes returns the block including its terminating blank line.
func (r *Response) Bytes() []byte { panic("unimplemented") }

// Block builds a bare key/value block without a STATUS line (the per-job
// blocks of LIST).
func Block() *Response { panic("unimplemented") }
