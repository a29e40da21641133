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
	"time"
)

// Emitter writes event lines to w, one Write per line.
type Emitter struct {
	W   io.Writer
	Now func() time.Time // nil: time.Now
}

// Emit writes one event; kv are key, value pairs in schema order.
func (e *Emitter) Emit(typ string, kv ...string) { panic("unimplemented") }

// Format returns one event line (with trailing newline).
func Format(tsUnixMs int64, typ string, kv ...string) string { panic("unimplemented") }

// Escape percent-encodes space, '%', '=' is kept, and bytes < 0x21 or 0x7f.
func Escape(v string) string { panic("unimplemented") }
