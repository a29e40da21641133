package proto

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// bigRequest is verb and then distinct keys k0, k1, ... ("kN: v") up to
// about size bytes, with the blank line that ends it.
func bigRequest(verb string, size int) []byte {
	b := append([]byte(verb), '\n')
	for i := 0; len(b) < size-16; i++ {
		b = append(b, 'k')
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ": v\n"...)
	}
	return append(b, '\n')
}

// TestRepeatedAtSizeLimit: the largest request (MaxRequest of distinct
// keys, about 380 000) is refused after MaxHeaders lines, and one of
// MaxHeaders distinct keys is parsed and checked for repeated keys, in
// time linear in its size. Pairwise, as before, a check took minutes
// (10 000 keys 0.67 s, 30 000 3.4 s here); linear, tens of ms. The bound
// is a gross one (100 times what it takes) so that a loaded machine does
// not fail it; BenchmarkParseRepeated gives the figures.
func TestRepeatedAtSizeLimit(t *testing.T) {
	full := bigRequest("PING", MaxRequest)
	atBound := bigRequest("PING", 0)
	for i := 0; i < MaxHeaders; i++ {
		atBound = append(atBound[:len(atBound)-1], "k"+strconv.Itoa(i)+": v\n\n"...)
	}
	done := make(chan int, 1)
	go func() {
		if _, err := Parse(full); err != ErrTooManyHeaders {
			t.Errorf("a 4 MiB request of %d lines: got %v, want ErrTooManyHeaders", bytes.Count(full, []byte{'\n'}), err)
		}
		r, err := Parse(atBound)
		if err != nil {
			t.Error(err)
		}
		if k, ok := r.Repeated(); ok {
			t.Errorf("got repeated %q, want none", k)
		}
		// One repeat, of the first key, at the very end.
		r.Add("k0", "again")
		if k, _ := r.Repeated(); k != "k0" {
			t.Errorf("got repeated %q, want k0", k)
		}
		done <- len(r.Headers)
	}()
	select {
	case n := <-done:
		if n != MaxHeaders+1 {
			t.Errorf("got %d keys, want %d", n, MaxHeaders+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request of 65 536 keys took over 10 s to parse and check: quadratic?")
	}
}

// BenchmarkParseRepeated is Parse plus Repeated of a request of n
// distinct keys, up to the size limit.
func BenchmarkParseRepeated(b *testing.B) {
	for _, size := range []int{64 << 10, 660 << 10, MaxRequest} {
		buf := bigRequest("PING", size)
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				r, _ := Parse(buf) // 4 MiB: refused at MaxHeaders lines
				r.Repeated()
			}
		})
	}
}

// pairwise is Repeated's answer by definition: the first scalar key,
// by its first line, that a later line repeats.
func pairwise(hs []Header) string {
	for i, h := range hs {
		if Repeatable[h.Key] {
			continue
		}
		for _, o := range hs[i+1:] {
			if o.Key == h.Key {
				return h.Key
			}
		}
	}
	return ""
}

// FuzzRepeated: the map Repeated uses past pairwiseMax headers gives the
// pairwise answer, on requests long enough to take it.
func FuzzRepeated(f *testing.F) {
	f.Add([]byte("abba"), uint8(20))
	f.Add([]byte("xaaeyx"), uint8(40))
	f.Fuzz(func(t *testing.T, keys []byte, n uint8) {
		var r Request
		names := []string{"arg", "env", "id", "cwd", "x"}
		for i := 0; i < int(n); i++ {
			k := "k" + strconv.Itoa(i)
			if len(keys) > 0 {
				c := keys[i%len(keys)]
				k = names[int(c)%len(names)] + strconv.Itoa(int(c)/len(names)%4)
				if c%7 == 0 {
					k = names[int(c)%2] // arg, env: repeatable
				}
			}
			r.Add(k, "v")
		}
		got, ok := r.Repeated()
		if want := pairwise(r.Headers); got != want || ok != (want != "") {
			t.Fatalf("%d headers %v: got %q,%v, want %q", len(r.Headers), r.Headers, got, ok, want)
		}
	})
}
