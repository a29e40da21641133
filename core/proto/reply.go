package proto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Status values of a response block.
const (
	StatusOK  = "ok"
	StatusErr = "err"
)

// MaxLine bounds one response line a client reads (a LIST block line, a
// long `pids` list); longer lines are an error rather than unbounded memory.
const MaxLine = 1 << 20

// ErrLineTooLong is returned by ReadBlock for a line longer than MaxLine.
var ErrLineTooLong = errors.New("response line too long")

// Reply is one response block as a client reads it.
type Reply struct {
	// Status is "ok" or "err" from the block's STATUS line, "" for a bare
	// block (the per-job blocks of LIST).
	Status  string
	Headers []Header
	// Raw is the block exactly as received, terminating blank line included
	// (absent if the peer closed before sending it).
	Raw []byte
}

// Get returns the first value of key.
func (r *Reply) Get(key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return "", false
}

// IsOK reports whether the block is a "STATUS: ok" block.
func (r *Reply) IsOK() bool { return r.Status == StatusOK }

// ReadBlock reads one block: lines up to and including a blank line, or up
// to EOF. It returns io.EOF when nothing at all was left to read, and
// io.ErrUnexpectedEOF (with the partial block) when the peer closed in the
// middle of a block. Lines are split like request headers; a line without
// ':' is kept in Raw but not in Headers (a client stays lenient).
func ReadBlock(br *bufio.Reader) (Reply, error) {
	var rep Reply
	for {
		line, err := readLine(br)
		rep.Raw = append(rep.Raw, line...)
		if err == io.EOF {
			if len(rep.Raw) == 0 {
				return rep, io.EOF
			}
			rep.parseLine(line)
			return rep, io.ErrUnexpectedEOF
		}
		if err != nil {
			return rep, err
		}
		if isBlank(line) {
			return rep, nil
		}
		rep.parseLine(line)
	}
}

func (rep *Reply) parseLine(line []byte) {
	k, v, ok := bytes.Cut(line, []byte{':'})
	if !ok {
		return
	}
	h := Header{
		Key:   string(trimRightSpace(k)),
		Value: string(trimRightSpace(bytes.TrimLeft(v, " \t"))),
	}
	if h.Key == "STATUS" && rep.Status == "" && len(rep.Headers) == 0 {
		rep.Status = h.Value
		return
	}
	rep.Headers = append(rep.Headers, h)
}

// readLine returns one line including its '\n' (none at EOF).
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > MaxLine {
			return line, fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, MaxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(line) > 0 {
			return line, io.EOF
		}
		return line, err
	}
}

// ReadResponse reads blocks until one carrying a STATUS line, calling each
// (bare LIST blocks first, the STATUS block last) as it arrives, so a
// client can print a long LIST without holding it. It returns the STATUS
// block. A response that ends before its STATUS block gives
// io.ErrUnexpectedEOF; a STATUS block cut short only of its blank line
// (its last line is whole) is accepted.
func ReadResponse(br *bufio.Reader, each func(Reply) error) (Reply, error) {
	for {
		rep, err := ReadBlock(br)
		if len(rep.Raw) > 0 && each != nil {
			if cerr := each(rep); cerr != nil {
				return rep, cerr
			}
		}
		if err == io.EOF {
			return rep, io.ErrUnexpectedEOF
		}
		if err == io.ErrUnexpectedEOF && rep.Status != "" && bytes.HasSuffix(rep.Raw, []byte{'\n'}) {
			// The STATUS block lacks only its blank line: accept it.
			return rep, nil
		}
		if err != nil {
			return rep, err
		}
		if rep.Status != "" {
			return rep, nil
		}
	}
}
