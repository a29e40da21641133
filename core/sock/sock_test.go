package sock

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// listen makes a listening Unix socket at path with raw syscalls.
func listen(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	return fd
}

func TestDialHalfClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	lfd := listen(t, path)
	done := make(chan string, 1)
	go func() {
		nfd, _, err := unix.Accept(lfd)
		if err != nil {
			done <- err.Error()
			return
		}
		defer unix.Close(nfd)
		var got []byte
		buf := make([]byte, 64)
		for {
			n, err := unix.Read(nfd, buf)
			if n <= 0 || err != nil {
				break // 0: the client half-closed
			}
			got = append(got, buf[:n]...)
		}
		unix.Write(nfd, []byte("STATUS: ok\n\n"))
		done <- string(got)
	}()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("PING\n\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != "PING\n\n" {
		t.Errorf("server got %q, want %q", got, "PING\n\n")
	}
	if string(resp) != "STATUS: ok\n\n" {
		t.Errorf("client got %q", resp)
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Dial(filepath.Join(dir, "missing"))
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing socket: got %v, want ENOENT", err)
	}
	// A socket file nobody listens on: bind without listen.
	stale := filepath.Join(dir, "stale")
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := Dial(stale); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("stale socket: got %v, want ECONNREFUSED", err)
	}
	for _, tc := range []struct {
		name string
		path string
		want bool
	}{
		{"missing", filepath.Join(dir, "missing"), false},
		{"stale", stale, false},
		{"live", func() string { p := filepath.Join(dir, "live"); listen(t, p); return p }(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Answers(tc.path)
			if err != nil || got != tc.want {
				t.Errorf("Answers = %v, %v; want %v, nil", got, err, tc.want)
			}
		})
	}
}
