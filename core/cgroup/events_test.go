package cgroup_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"cgroupd/core/cgroup"
	"cgroupd/core/cgroup/cgrouptest"
)

func TestParseEvents(t *testing.T) {
	tests := []struct {
		name, in string
		want     cgroup.Events
		wantErr  bool
	}{
		{"populated", "populated 1\nfrozen 0\n", cgroup.Events{Populated: true}, false},
		{"frozen", "populated 0\nfrozen 1\n", cgroup.Events{Frozen: true}, false},
		{"empty", "", cgroup.Events{}, false},
		{"unknown keys, blank and short lines", "\nnew_key 5\npopulated\n\npopulated 1 extra\n", cgroup.Events{Populated: true}, false},
		{"bad value", "frozen maybe\n", cgroup.Events{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroup.ParseEvents(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseMemoryEvents(t *testing.T) {
	tests := []struct {
		name, in string
		want     cgroup.MemoryEvents
		wantErr  bool
	}{
		{"all", "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\nsock_throttled 9\n",
			cgroup.MemoryEvents{Low: 1, High: 2, Max: 3, OOM: 4, OOMKill: 5, OOMGroupKill: 6}, false},
		{"old kernel", "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n", cgroup.MemoryEvents{OOM: 1, OOMKill: 1}, false},
		{"empty", "", cgroup.MemoryEvents{}, false},
		{"short lines", "oom\n \noom_kill 2\n", cgroup.MemoryEvents{OOMKill: 2}, false},
		{"negative", "oom -1\n", cgroup.MemoryEvents{}, true},
		{"largest", "oom_kill 18446744073709551615\n", cgroup.MemoryEvents{OOMKill: 1<<64 - 1}, false},
		{"overflow", "oom_kill 18446744073709551616\n", cgroup.MemoryEvents{}, true},
		{"garbage", "low x\n", cgroup.MemoryEvents{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroup.ParseMemoryEvents(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEventsFake(t *testing.T) {
	root := fakeTree(t, "full")
	tests := []struct {
		name    string
		d       cgroup.Dir
		want    cgroup.Events
		wantMem cgroup.MemoryEvents
		memErr  error
	}{
		{"job1", root.Child("job1"), cgroup.Events{Populated: true}, cgroup.MemoryEvents{High: 5, Max: 7, OOM: 2, OOMKill: 1}, nil},
		{"job2", root.Child("job2"), cgroup.Events{Frozen: true}, cgroup.MemoryEvents{}, fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.Events()
			if err != nil || got != tc.want {
				t.Errorf("Events() = %+v, %v; want %+v", got, err, tc.want)
			}
			mem, err := tc.d.MemoryEvents()
			if !errors.Is(err, tc.memErr) || mem != tc.wantMem {
				t.Errorf("MemoryEvents() = %+v, %v; want %+v, %v", mem, err, tc.wantMem, tc.memErr)
			}
		})
	}
	if _, err := fakeTree(t, "garbage").Child("job1").Events(); err == nil {
		t.Error("Events() of garbage: want error")
	}
	if _, err := fakeTree(t, "garbage").Child("job1").MemoryEvents(); err == nil {
		t.Error("MemoryEvents() of garbage: want error")
	}
}

// TestFreezeReal freezes and thaws a real cgroup with a process in it and
// waits for the kernel's notification on cgroup.events.
func TestFreezeReal(t *testing.T) {
	d := cgrouptest.Temp(t)
	startIn(t, d, "sleep", "100")
	waitEvents(t, d, func(ev cgroup.Events) bool { return ev.Populated })
	if err := d.SetFrozen(true); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, d, func(ev cgroup.Events) bool { return ev.Frozen })
	if got, _ := d.Read(cgroup.FileFreeze); got != "1" {
		t.Errorf("cgroup.freeze = %q, want 1", got)
	}
	if err := d.SetFrozen(false); err != nil {
		t.Fatal(err)
	}
	ev := waitEvents(t, d, func(ev cgroup.Events) bool { return !ev.Frozen })
	if !ev.Populated {
		t.Errorf("got %+v, want populated", ev)
	}
	if _, err := d.MemoryEvents(); !errors.Is(err, fs.ErrNotExist) && err != nil {
		t.Errorf("MemoryEvents() = %v", err)
	}
}
