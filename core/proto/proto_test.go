package proto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestEnd(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", -1},
		{"verb only, no newline", "PING", -1},
		{"verb line only", "PING\n", -1},
		{"verb and blank", "PING\n\n", 6},
		{"headers then blank", "RUN\nid: a\narg: x\n\n", 18},
		{"header not terminated", "RUN\nid: a", -1},
		{"header without blank", "RUN\nid: a\n", -1},
		{"CRLF blank", "PING\r\n\r\n", 8},
		{"white space only line ends", "PING\n \t\n", 8},
		{"blank verb line ends at once", "\nPING\n\n", 1},
		{"trailing data after end", "PING\n\nGARBAGE", 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := End([]byte(tc.in)); got != tc.want {
				t.Errorf("End(%q): got %d, want %d", tc.in, got, tc.want)
			}
			if got, want := Complete([]byte(tc.in)), tc.want >= 0; got != want {
				t.Errorf("Complete(%q): got %v, want %v", tc.in, got, want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Request
		wantErr error
	}{
		{"ping", "PING\n\n", Request{Verb: "PING"}, nil},
		{"no trailing blank line", "PING\n", Request{Verb: "PING"}, nil},
		{"no newline at all", "PING", Request{Verb: "PING"}, nil},
		{"leading spaces on verb", "   PING  \t\r\n\n", Request{Verb: "PING"}, nil},
		{"leading tab on verb is kept", "\tPING\n\n", Request{Verb: "\tPING"}, nil},
		{"headers in order", "RUN\narg: sleep\narg: 10\nid: j1\n\n",
			Request{Verb: "RUN", Headers: []Header{{"arg", "sleep"}, {"arg", "10"}, {"id", "j1"}}}, nil},
		{"trimming", "RUN\nid  \t: \t  a b \t\r\n\n",
			Request{Verb: "RUN", Headers: []Header{{"id", "a b"}}}, nil},
		{"key keeps leading space", "RUN\n id: a\n\n",
			Request{Verb: "RUN", Headers: []Header{{" id", "a"}}}, nil},
		{"tabs inside value kept", "RUN\nenv: A=x\ty\n\n",
			Request{Verb: "RUN", Headers: []Header{{"env", "A=x\ty"}}}, nil},
		{"split at first colon", "RUN\narg: a:b: c\n\n",
			Request{Verb: "RUN", Headers: []Header{{"arg", "a:b: c"}}}, nil},
		{"empty value", "RUN\ncwd:\n\n",
			Request{Verb: "RUN", Headers: []Header{{"cwd", ""}}}, nil},
		{"empty key", "RUN\nid: a\n: v\n\n", Request{}, ErrEmptyKey},
		{"blank key", "RUN\n \t : v\n\n", Request{}, ErrEmptyKey},
		{"empty key is malformed", "RUN\n:\n\n", Request{}, ErrMalformed},
		{"last header without newline", "KILL\nid: a\nsignal: 15",
			Request{Verb: "KILL", Headers: []Header{{"id", "a"}, {"signal", "15"}}}, nil},
		{"stops at blank line", "PING\n\nnot a header\n",
			Request{Verb: "PING"}, nil},
		{"CRLF lines", "KILL\r\nid: a\r\n\r\n",
			Request{Verb: "KILL", Headers: []Header{{"id", "a"}}}, nil},
		{"header without colon", "RUN\nid a\n\n", Request{}, ErrMalformed},
		{"colon-less line after good ones", "RUN\nid: a\nbogus\n\n", Request{}, ErrMalformed},
		{"empty request", "", Request{}, ErrEmptyVerb},
		{"blank verb line", "\nPING\n\n", Request{}, ErrEmptyVerb},
		{"spaces-only verb", "   \n\n", Request{}, ErrEmptyVerb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse(%q): got error %v, want %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q): got %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestMalformedText(t *testing.T) {
	if got, want := ErrMalformed.Error(), "malformed headers"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestGetAll(t *testing.T) {
	r := Request{Verb: "RUN", Headers: []Header{{"arg", "a"}, {"id", "x"}, {"arg", "b"}, {"id", "y"}}}
	tests := []struct {
		key    string
		first  string
		ok     bool
		values []string
	}{
		{"arg", "a", true, []string{"a", "b"}},
		{"id", "x", true, []string{"x", "y"}},
		{"env", "", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			v, ok := r.Get(tc.key)
			if v != tc.first || ok != tc.ok {
				t.Errorf("Get(%q): got %q,%v, want %q,%v", tc.key, v, ok, tc.first, tc.ok)
			}
			if got := r.All(tc.key); !reflect.DeepEqual(got, tc.values) {
				t.Errorf("All(%q): got %q, want %q", tc.key, got, tc.values)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		want    string
		wantErr string
	}{
		{"verb only", Request{Verb: "PING"}, "PING\n\n", ""},
		{"headers", Request{Verb: "RUN", Headers: []Header{{"id", "a"}, {"arg", "sleep"}, {"arg", "1"}}},
			"RUN\nid: a\narg: sleep\narg: 1\n\n", ""},
		{"empty value", Request{Verb: "RUN", Headers: []Header{{"env", ""}}}, "RUN\nenv: \n\n", ""},
		{"tab in value", Request{Verb: "RUN", Headers: []Header{{"arg", "a\tb"}}}, "RUN\narg: a\tb\n\n", ""},
		{"LF in value", Request{Verb: "RUN", Headers: []Header{{"id", "a"}, {"env", "A=1\nB=2"}}},
			"", "env must not contain CR or LF"},
		{"CR in value", Request{Verb: "RUN", Headers: []Header{{"arg", "x\r"}}},
			"", "arg must not contain CR or LF"},
		{"LF in key", Request{Verb: "RUN", Headers: []Header{{"a\nb", "x"}}},
			"", "a\nb must not contain CR or LF"},
		{"LF in verb", Request{Verb: "PI\nNG"}, "", "verb must not contain CR or LF"},
		{"colon in key", Request{Verb: "RUN", Headers: []Header{{"a:b", "x"}}},
			"", `header key "a:b" must not contain ':'`},
		{"empty verb", Request{}, "", "empty verb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.req.Encode()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got error %v, want %q", err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("got bytes %q with an error, want none", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEncodeCRLFIs(t *testing.T) {
	r := Request{Verb: "RUN", Headers: []Header{{"cwd", "/tmp\n"}}}
	if _, err := r.Encode(); !errors.Is(err, ErrCRLF) {
		t.Errorf("got %v, want errors.Is ErrCRLF", err)
	}
}

func TestDefaultSocket(t *testing.T) {
	yes := func(string) bool { return true }
	no := func(string) bool { return false }
	tests := []struct {
		name   string
		uid    int
		exists func(string) bool
		want   string
	}{
		{"root", 0, yes, "/run/cgroupd.sock"},
		{"user with runtime dir", 1000, yes, "/run/user/1000/cgroupd.sock"},
		{"user without runtime dir", 1000, no, "/tmp/cgroupd-1000.sock"},
		{"nil probe", 1000, nil, "/tmp/cgroupd-1000.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultSocket(tc.uid, tc.exists); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name string
		r    *Response
		want string
	}{
		{"ok", OK(), "STATUS: ok\n\n"},
		{"ok with keys", OK().Add("id", "a").AddInt("pid", 42), "STATUS: ok\nid: a\npid: 42\n\n"},
		{"err", Err("no such job").Add("id", "x"), "STATUS: err\nreason: no such job\nid: x\n\n"},
		{"sanitised value", OK().Add("cgroup", "/a\nb\rc"), "STATUS: ok\ncgroup: /a b c\n\n"},
		{"sanitised reason", Err("bad\r\nthing"), "STATUS: err\nreason: bad  thing\n\n"},
		{"empty value", OK().Add("log", ""), "STATUS: ok\nlog: \n\n"},
		{"bare block", Block().Add("id", "a").AddInt("exit", -1), "id: a\nexit: -1\n\n"},
		{"empty bare block", Block(), "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.r.Bytes()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// Bytes does not change the builder.
			if got := string(tc.r.Bytes()); got != tc.want {
				t.Errorf("second Bytes: got %q, want %q", got, tc.want)
			}
			if got := string(tc.r.AppendTo([]byte("X"))); got != "X"+tc.want {
				t.Errorf("AppendTo: got %q, want %q", got, "X"+tc.want)
			}
		})
	}
}

func TestReadBlock(t *testing.T) {
	type block struct {
		status  string
		headers []Header
		raw     string
		err     error
	}
	tests := []struct {
		name string
		in   string
		want []block
	}{
		{"ok block", "STATUS: ok\npong: 1\n\n", []block{
			{"ok", []Header{{"pong", "1"}}, "STATUS: ok\npong: 1\n\n", nil},
			{"", nil, "", io.EOF},
		}},
		{"list blocks", "id: a\nstate: running\n\nid: b\n\nSTATUS: ok\ncount: 2\n\n", []block{
			{"", []Header{{"id", "a"}, {"state", "running"}}, "id: a\nstate: running\n\n", nil},
			{"", []Header{{"id", "b"}}, "id: b\n\n", nil},
			{"ok", []Header{{"count", "2"}}, "STATUS: ok\ncount: 2\n\n", nil},
			{"", nil, "", io.EOF},
		}},
		{"cut short", "STATUS: err\nreason: x", []block{
			{"err", []Header{{"reason", "x"}}, "STATUS: err\nreason: x", io.ErrUnexpectedEOF},
		}},
		{"lenient lines", "STATUS: ok\nnonsense\nid:  a \n\n", []block{
			{"ok", []Header{{"id", "a"}}, "STATUS: ok\nnonsense\nid:  a \n\n", nil},
		}},
		{"STATUS not first is a header", "id: a\nSTATUS: ok\n\n", []block{
			{"", []Header{{"id", "a"}, {"STATUS", "ok"}}, "id: a\nSTATUS: ok\n\n", nil},
		}},
		{"empty input", "", []block{{"", nil, "", io.EOF}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			for i, w := range tc.want {
				got, err := ReadBlock(br)
				if !errors.Is(err, w.err) {
					t.Fatalf("block %d: got error %v, want %v", i, err, w.err)
				}
				if got.Status != w.status || !reflect.DeepEqual(got.Headers, w.headers) || string(got.Raw) != w.raw {
					t.Errorf("block %d: got %q %v %q, want %q %v %q", i, got.Status, got.Headers, got.Raw, w.status, w.headers, w.raw)
				}
			}
		})
	}
}

func TestReadBlockLongLine(t *testing.T) {
	in := "STATUS: ok\npids: " + strings.Repeat("1,", MaxLine) + "\n\n"
	_, err := ReadBlock(bufio.NewReader(strings.NewReader(in)))
	if !errors.Is(err, ErrLineTooLong) {
		t.Errorf("got %v, want ErrLineTooLong", err)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		status  string
		seen    string
		wantErr error
	}{
		{"ping", "STATUS: ok\npong: 1\n\n", "ok", "STATUS: ok\npong: 1\n\n", nil},
		{"list", "id: a\n\nid: b\n\nSTATUS: ok\ncount: 2\n\n", "ok", "id: a\n\nid: b\n\nSTATUS: ok\ncount: 2\n\n", nil},
		{"status without final blank line", "STATUS: err\nreason: x\n", "err", "STATUS: err\nreason: x\n", nil},
		{"status line cut", "STATUS: o", "o", "STATUS: o", io.ErrUnexpectedEOF},
		{"no status block", "id: a\n\n", "", "id: a\n\n", io.ErrUnexpectedEOF},
		{"nothing", "", "", "", io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen bytes.Buffer
			got, err := ReadResponse(bufio.NewReader(strings.NewReader(tc.in)), func(r Reply) error {
				seen.Write(r.Raw)
				return nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if got.Status != tc.status {
				t.Errorf("status: got %q, want %q", got.Status, tc.status)
			}
			if seen.String() != tc.seen {
				t.Errorf("seen: got %q, want %q", seen.String(), tc.seen)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that a parsed request
// survives Encode→Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PING\n\n",
		"RUN\nid: a\narg: sleep\narg: 1\nenv: A=B\n\n",
		"  KILL \t\nid :\t x \r\nsignal: 9",
		"RUN\nbogus\n\n",
		"\n",
		"RUN\n: \n\n",
		"X\na\rb: c\rd\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		req, err := Parse(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrEmptyVerb) {
				t.Fatalf("Parse(%q): unexpected error %v", buf, err)
			}
			return
		}
		enc, err := req.Encode()
		if err != nil {
			// Only a CR inside a verb, key or value can stop the trip back.
			if !errors.Is(err, ErrCRLF) {
				t.Fatalf("Encode(%#v): unexpected error %v", req, err)
			}
			return
		}
		if !Complete(enc) {
			t.Fatalf("Encode(%#v) = %q: not Complete", req, enc)
		}
		back, err := Parse(enc)
		if err != nil {
			t.Fatalf("Parse(Encode(%#v)) = %q: %v", req, enc, err)
		}
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip of %q: got %#v, want %#v", buf, back, req)
		}
	})
}

func TestRepeated(t *testing.T) {
	tests := []struct {
		name string
		hs   []Header
		want string
	}{
		{"none", nil, ""},
		{"repeatable keys", []Header{{"arg", "a"}, {"env", "A=1"}, {"arg", "b"}, {"env", "B=2"}, {"io_max", "x"}, {"io_max", "y"},
			{"require_path", "/"}, {"require_path", "/"}, {"service", "s"}, {"service", "s"}}, ""},
		{"id twice", []Header{{"id", "a"}, {"arg", "x"}, {"id", "a"}}, "id"},
		{"first repeated scalar wins", []Header{{"priority", "1"}, {"cwd", "/"}, {"cwd", "/"}, {"priority", "2"}}, "priority"},
		{"unknown key twice", []Header{{"x_ext", "1"}, {"x_ext", "1"}}, "x_ext"},
		{"different keys", []Header{{"id", "a"}, {"priority", "1"}, {"memory_max", "1M"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Verb: "RUN", Headers: tc.hs}
			got, ok := r.Repeated()
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("got %q,%v, want %q", got, ok, tc.want)
			}
		})
	}
}

func TestCut(t *testing.T) {
	long := strings.Repeat("x", 2<<20)
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{strings.Repeat("a", MaxEcho), strings.Repeat("a", MaxEcho)},
		{strings.Repeat("a", MaxEcho+1), strings.Repeat("a", MaxEcho) + "...(cut, 129 bytes)"},
		{long, strings.Repeat("x", MaxEcho) + "...(cut, 2097152 bytes)"},
		// A 2-byte character across the limit is not split.
		{strings.Repeat("a", MaxEcho-1) + "é" + "z", strings.Repeat("a", MaxEcho-1) + "...(cut, 130 bytes)"},
	}
	for _, tc := range tests {
		if got := Cut(tc.in); got != tc.want {
			t.Errorf("Cut(%d bytes): got %q, want %q", len(tc.in), got[:min(len(got), 200)], tc.want[:min(len(tc.want), 200)])
		}
	}
}
