package handoff

import (
	"reflect"
	"strings"
	"testing"

	"cgroupd/applets/daemon/hub"
)

// A hand-over round-trips, and one written by the release before the
// decomposition (the same lines, written by one function of the daemon) is
// read the same way; a line of an unknown kind is skipped.
func TestRoundTrip(t *testing.T) {
	h := New("v1.2+abc")
	h.Listen, h.Locks = 3, []int{4, 5}
	h.Jobs["a"] = &Job{PidFD: 7, Services: []int{8, 9}}
	h.Jobs["b"] = &Job{PidFD: 10}
	h.Reap = []int{11}
	h.Conns = []Conn{{FD: 12, UID: 1000, GID: 100, Pid: 42, Kind: "logs", Args: []string{"a", "17", "1", "0"}, Data: []byte("x\n")},
		{FD: 13, Kind: "upgrade", Args: []string{}, Data: []byte{}}}
	text := string(h.Encode([]string{"a", "b"}))
	old := "from v1.2+abc\nlisten 3\nlock 4\nlock 5\njob a 7 8 9\njob b 10\nreap 11\n" +
		"conn 12 1000 100 42 logs 780a a 17 1 0\nconn 13 0 0 0 upgrade \n"
	if text != old {
		t.Fatalf("encoded\n%s\nwant the lines the earlier release wrote\n%s", text, old)
	}
	got, err := Decode(strings.NewReader(old + "future 1 2 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.Requester = 13
	if !reflect.DeepEqual(got, h) {
		t.Errorf("decoded %+v, want %+v", got, h)
	}
	if _, err := Decode(strings.NewReader("from x\n")); err == nil {
		t.Error("a hand-over without a listening socket was accepted")
	}
}

// The lines an image newer than the first release adds round-trip, and
// an image that does not know them skips them (TestRoundTrip).
func TestRoundTripState(t *testing.T) {
	h := New("v2")
	h.Listen = 3
	h.Jobs["a"] = &Job{PidFD: 7}
	h.NextID = 65
	h.Demoted["a"] = 200
	h.Demoted["gone"] = 50 // not handed over: no such job line
	h.Events = []hub.Kept{{Owner: -1, Type: "daemon.upgrade", Line: []byte("EVENT a b\n")}, {Owner: 1000, Type: "job.start", Job: "a", Line: []byte("EVENT c\n")}}
	h.Dropped = 12
	h.Counters = []Counter{{Name: "started", Value: 3}, {Name: "action", Value: 1, Labels: []string{"kill", "client"}}}
	got, err := Decode(strings.NewReader(string(h.Encode([]string{"a"}))))
	if err != nil {
		t.Fatal(err)
	}
	delete(h.Demoted, "gone")
	if !reflect.DeepEqual(got, h) {
		t.Errorf("decoded %+v, want %+v", got, h)
	}
}
