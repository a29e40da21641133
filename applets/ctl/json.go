package ctl

import (
	"strings"
	"unicode/utf8"

	"cgroupd/core/proto"
)

// JSON output (--json, -o json): one JSON object per response, written by
// this small encoder rather than encoding/json (which adds ~340 KB to the
// binary for what are flat key/value records).
//
// Field names are the protocol keys; the STATUS line is "status". A value
// is typed by its key (jsonTypes): numbers as JSON numbers (the daemon's
// decimal text, verbatim), the 0/1 flags as booleans, pids as an array of
// numbers, everything else (ids, states, reasons, paths, keys this client
// does not know) as a string. A typed value that does not parse as its
// type stays a string. A key the block does not carry is absent from the
// object, and so is a figure the block has as a stand-in for "not known"
// (unknownKeys in human.go: a live job's exit, a 0 time stamp, a 0
// memory_current, the psi figures of a kernel without PSI); a key that
// repeats becomes an array. LIST is {"jobs": [one object per job block], then the keys of
// its STATUS block}.

// jsonType is how a key's value is written.
type jsonType int

const (
	jsonString  jsonType = iota
	jsonNumber           // a JSON number: integer or decimal
	jsonBool             // "0" → false, "1" → true
	jsonNumbers          // comma-separated numbers → array ("" → [])
)

// jsonTypes is the type of every key the daemon sends in a reply or an
// event line (spec/PROTOCOL.md, spec/EVENTS.md and the extensions in
// README): TestDaemonKeysTyped fails when the daemon's source has a key
// this table lacks. A key it does not know (a newer daemon's) is a string.
var jsonTypes = map[string]jsonType{
	// Strings: ids, names, paths, reasons.
	"id": jsonString, "state": jsonString, "cgroup": jsonString, "log": jsonString, "reason": jsonString,
	"detail": jsonString, "verb": jsonString, "root": jsonString, "from": jsonString, "to": jsonString,
	"exit_reason": jsonString, "decision": jsonString,
	// RUN, LIST, INSPECT, WAIT, KILL
	"pid": jsonNumber, "priority": jsonNumber, "exit": jsonNumber, "signal": jsonNumber,
	"memory_current": jsonNumber, "pids_current": jsonNumber, "age_ms": jsonNumber,
	"start_unix_ms": jsonNumber, "exit_unix_ms": jsonNumber, "start_mono_ms": jsonNumber,
	"exit_mono_ms": jsonNumber, "count": jsonNumber, "service_count": jsonNumber,
	"require_path_count": jsonNumber, "io_max_rule_count": jsonNumber,
	"memory_swap_current": jsonNumber, "cpu_usage_usec": jsonNumber, "io_rbytes": jsonNumber,
	"io_wbytes": jsonNumber, "oom_kill_count": jsonNumber, "pid_count": jsonNumber,
	"psi_mem_some_avg10": jsonNumber, "psi_mem_full_avg10": jsonNumber,
	"psi_cpu_some_avg10": jsonNumber, "psi_io_some_avg10": jsonNumber, "psi_io_full_avg10": jsonNumber,
	"unknown": jsonString, "oom_killed": jsonBool, "pids": jsonNumbers, "uid": jsonNumber, "adopted": jsonBool, "already": jsonBool, "exec_error": jsonString, "stop_reason": jsonString, "command": jsonString,
	// WAIT's and job.exit's end figures; exit_known 0: the status is not known.
	"run_ms": jsonNumber, "cpu_usec": jsonNumber, "memory_peak": jsonNumber, "oom_kills": jsonNumber,
	"exit_known": jsonBool,
	// LIST: command_known 0, a job restored from its cgroup's mark alone; a refused id's next_id.
	"command_known": jsonBool, "next_id": jsonString,
	// STATS
	"jobs": jsonNumber, "running": jsonNumber, "frozen": jsonNumber, "memory_total": jsonNumber,
	"pending": jsonNumber, "pressure_window_ms": jsonNumber,
	"pressure_mem_some_pct": jsonNumber, "pressure_mem_full_pct": jsonNumber,
	"pressure_cpu_some_pct": jsonNumber, "pressure_cpu_full_pct": jsonNumber,
	"pressure_io_some_pct": jsonNumber, "pressure_io_full_pct": jsonNumber,
	"dry_run": jsonBool, "psi_available": jsonBool, "events_dropped": jsonNumber,
	"host_mem_total_bytes": jsonNumber, "host_mem_available_bytes": jsonNumber,
	"state_writes": jsonNumber, "state_unlinks": jsonNumber, "state_errors": jsonNumber,
	"user_jobs": jsonNumber, "user_jobs_max": jsonNumber, "user_priority_max": jsonNumber,
	// TOP (memory_max is a number or max, which stays a string)
	"cpu_pct": jsonNumber, "memory_max": jsonNumber, "total": jsonNumber,
	"sample_age_ms": jsonNumber, "sample_cycle_ms": jsonNumber,
	"threshold_mem_freeze_some_pct": jsonNumber, "threshold_mem_kill_full_pct": jsonNumber,
	"threshold_cpu_demote_some_pct": jsonNumber, "threshold_io_freeze_full_pct": jsonNumber,
	// EVENTS: the block, and the keys of event lines (events --json)
	"history": jsonNumber, "bytes": jsonNumber, "schema": jsonString, "ts_unix_ms": jsonNumber, "type": jsonString,
	"cpu_weight": jsonNumber, "log_lines": jsonNumber, "resource": jsonString, "action": jsonString,
	"target": jsonString, "result": jsonString, "file": jsonString, "populated": jsonBool,
	"rule": jsonString, "victim": jsonString,
	"some_avg10": jsonNumber, "full_avg10": jsonNumber, "window_ms": jsonNumber,
	"some_pct": jsonNumber, "full_pct": jsonNumber, "pct": jsonNumber, "threshold": jsonNumber,
	"held_ms": jsonNumber, "below_ms": jsonNumber, "hold_ms": jsonNumber, "candidates": jsonNumber,
	"victim_priority": jsonNumber, "victim_memory": jsonNumber, "victim_memory_low": jsonNumber,
	"victim_io_bytes": jsonNumber, "mem_available_bytes": jsonNumber, "mem_total_bytes": jsonNumber,
	"mem_available_pct": jsonNumber, "predicted_pct": jsonNumber, "swap_free_pct": jsonNumber,
	"swap_threshold": jsonNumber,
	// the reclaim rule (issue 23)
	"measure": jsonString, "value_ms": jsonNumber, "horizon_ms": jsonNumber, "free_bytes": jsonNumber,
	"low_watermark_bytes": jsonNumber, "fill_rate_bytes_s": jsonNumber, "available_unprotected_bytes": jsonNumber,
	"risk_ms": jsonNumber, "risk_horizon_ms": jsonNumber, "protected": jsonString, "protected_priority": jsonNumber,
	"protected_file_bytes": jsonNumber, "victim_growth_bytes_s": jsonNumber,
	"shortage": jsonString, "shortage_cgroup": jsonString, "shortage_job": jsonString,
	// PING, QUIT, errors
	"pong": jsonBool, "shutting_down": jsonBool, "max_bytes": jsonNumber, "max_headers": jsonNumber,
}

// appendJSONObject appends one block as a JSON object: "status" first
// when the block has one, then its keys in order; pre, when not nil,
// appends members before the status (LIST's "jobs").
func appendJSONObject(b []byte, rep proto.Reply, pre func([]byte) []byte) []byte {
	b = append(b, '{')
	n := 0
	member := func(key string) {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendJSONString(b, key)
		b = append(b, ':')
	}
	if pre != nil {
		b = pre(b)
		n++
	}
	if rep.Status != "" {
		member("status")
		b = appendJSONString(b, rep.Status)
	}
	hs := rep.Headers
	unknown := unknownKeys(rep) // human.go: left out, never 0
	done := make([]bool, len(hs))
	for i, h := range hs {
		if done[i] || unknown[h.Key] {
			continue
		}
		member(h.Key)
		repeats := false
		for k := i + 1; k < len(hs); k++ {
			repeats = repeats || hs[k].Key == h.Key
		}
		if !repeats {
			b = appendJSONValue(b, h.Key, h.Value)
			continue
		}
		b = append(b, '[')
		for k := i; k < len(hs); k++ {
			if hs[k].Key == h.Key {
				if k > i {
					b = append(b, ',')
				}
				b = appendJSONValue(b, h.Key, hs[k].Value)
				done[k] = true
			}
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONValue appends v typed as key's jsonTypes entry says.
func appendJSONValue(b []byte, key, v string) []byte {
	switch jsonTypes[key] {
	case jsonNumber:
		if isJSONNumber(v) {
			return append(b, v...)
		}
	case jsonBool:
		switch v {
		case "0":
			return append(b, "false"...)
		case "1":
			return append(b, "true"...)
		}
	case jsonNumbers:
		if v == "" {
			return append(b, "[]"...)
		}
		nums := strings.Split(v, ",")
		ok := true
		for _, s := range nums {
			ok = ok && isJSONNumber(s)
		}
		if ok {
			b = append(b, '[')
			b = append(b, v...)
			return append(b, ']')
		}
	}
	return appendJSONString(b, v)
}

// isJSONNumber reports whether s is a number of RFC 8259's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	if n := digits(); n == 0 || (n > 1 && s[start] == '0') {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259): '"' and '\\'
// escaped, control characters as \n \r \t \b \f or \u00XX, and each byte
// of invalid UTF-8 as U+FFFD (as encoding/json does). U+2028 and U+2029
// are escaped too, so the output is also valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
