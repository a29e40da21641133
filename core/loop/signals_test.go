package loop

import (
	"os"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSignals(t *testing.T) {
	l := newLoop(t)
	s, err := NewSignals(syscall.SIGUSR1, syscall.SIGUSR2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Drain(); len(got) != 0 {
		t.Errorf("Drain before any signal = %v, want none", got)
	}
	var got []os.Signal
	if err := l.Add(s.FD, unix.EPOLLIN, func(uint32) { got = append(got, s.Drain()...) }); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if err := l.Run(func() bool { return slices.Contains(got, os.Signal(sig)) }); err != nil {
			t.Fatal(err)
		}
	}
	want := []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Drained: nothing more is delivered.
	if err := l.RunOnce(0); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("extra signals after drain: %v", got[2:])
	}
}
