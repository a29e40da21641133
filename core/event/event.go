// Package event formats cgroupd.v1 event lines (spec/EVENTS.md):
//
//	EVENT schema=cgroupd.v1 ts_unix_ms=<ms> type=<type> k=v ...
//
// Values never contain a space, newline or control character: such bytes,
// and '%', are written as %XX (percent-encoding, upper-case hex), so a
// consumer splitting on spaces always sees whole values and can decode them
// with any URL-unescape. An empty value is written as nothing after '='.
package event

import (
	"io"
	"strconv"
	"strings"
	"time"
)

// Schema is the value of the schema= key of every line.
const Schema = "cgroupd.v1"

// Emitter writes event lines to w, one Write per line.
type Emitter struct {
	W   io.Writer
	Now func() time.Time // nil: time.Now
}

// Emit writes one event; kv are key, value pairs in schema order. A nil
// Emitter or W discards the event. Write errors are ignored: events are a
// log, and a closed stderr must not stop the daemon.
func (e *Emitter) Emit(typ string, kv ...string) {
	if e == nil || e.W == nil {
		return
	}
	e.W.Write(e.Line(typ, kv...))
}

// Line formats one event line at the Emitter's clock.
func (e *Emitter) Line(typ string, kv ...string) []byte {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	return appendLine(nil, now().UnixMilli(), typ, kv)
}

// Format returns one event line (with trailing newline). Keys and the type
// are escaped like values; an odd trailing key gets an empty value.
func Format(tsUnixMs int64, typ string, kv ...string) string {
	return string(appendLine(nil, tsUnixMs, typ, kv))
}

func appendLine(b []byte, tsUnixMs int64, typ string, kv []string) []byte {
	if b == nil {
		b = make([]byte, 0, 64+16*len(kv))
	}
	b = append(b, "EVENT schema="+Schema+" ts_unix_ms="...)
	b = strconv.AppendInt(b, tsUnixMs, 10)
	b = append(b, " type="...)
	b = appendEscaped(b, typ)
	for i := 0; i < len(kv); i += 2 {
		b = append(b, ' ')
		b = appendEscaped(b, kv[i])
		b = append(b, '=')
		if i+1 < len(kv) {
			b = appendEscaped(b, kv[i+1])
		}
	}
	return append(b, '\n')
}

// Escape percent-encodes space, '%', '=' is kept, and bytes < 0x21 or 0x7f.
// Other bytes, UTF-8 included, are written as they are.
func Escape(v string) string {
	for i := 0; i < len(v); i++ {
		if needsEscape(v[i]) {
			return string(appendEscaped(make([]byte, 0, len(v)+8), v))
		}
	}
	return v
}

func needsEscape(c byte) bool { return c < 0x21 || c == 0x7f || c == '%' }

const hex = "0123456789ABCDEF"

func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if needsEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// Parse splits an event line (with or without its newline) into keys and
// values, alternating, in order (schema, ts_unix_ms, type, then the
// event's keys), values percent-decoded. ok is false for a line that is not
// an event line.
func Parse(line string) (kv []string, ok bool) {
	line = strings.TrimSuffix(line, "\n")
	rest, found := strings.CutPrefix(line, "EVENT ")
	if !found {
		return nil, false
	}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		kv = append(kv, unescape(k), unescape(v))
	}
	return kv, len(kv) >= 6 && kv[0] == "schema"
}

// unescape undoes Escape: %XX (upper- or lower-case hex) becomes the byte;
// a % not followed by two hex digits stays as it is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(h))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}
