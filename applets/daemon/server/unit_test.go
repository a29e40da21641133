package server

import (
	"testing"

	"cgroupd/core/proto"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		present bool
		want    int
		err     bool
	}{
		{"", false, 9, false},
		{"15", true, 15, false},
		{"1", true, 1, false},
		{"64", true, 64, false},
		{"0", true, 0, true},
		{"65", true, 0, true},
		{"TERM", true, 0, true},
		{"-9", true, 0, true},
	}
	for _, tc := range tests {
		got, err := parseSignal(tc.in, tc.present)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSignal(%q): got %d, %v, want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func req(verb string, kv ...string) *proto.Request {
	r := &proto.Request{Verb: verb}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Headers = append(r.Headers, proto.Header{Key: kv[i], Value: kv[i+1]})
	}
	return r
}
