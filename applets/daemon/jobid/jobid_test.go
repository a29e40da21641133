package jobid

import (
	"reflect"
	"strings"
	"testing"
)

// Peek skips ids in use and takes none; Take moves the counter on and
// writes the reservation only when an id passes it.
func TestCounter(t *testing.T) {
	var writes []int
	c := New(func(n int) { writes = append(writes, n) })
	taken := map[string]bool{"job-1": true, "job-2": true, "job-4": true}
	var got []string
	for i := 0; i < 3; i++ {
		id := c.Peek(func(id string) bool { return taken[id] })
		if again := c.Peek(func(id string) bool { return taken[id] }); again != id {
			t.Fatalf("Peek took an id: %s then %s", id, again)
		}
		c.Take(id)
		taken[id] = true
		got = append(got, id)
	}
	if want := []string{"job-3", "job-5", "job-6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if c.Next() != 7 {
		t.Errorf("next %d, want 7", c.Next())
	}
	if want := []int{4 + Block - 1}; !reflect.DeepEqual(writes, want) {
		t.Errorf("reservations written %v, want %v (one block)", writes, want)
	}
	// A client's --id of the automatic form (Allowed: not ahead of the
	// counter) is used up too; other ids and leading zeros are not
	// automatic ids.
	for _, id := range []string{"job-0", "job-007", "web", "job-", "job-x"} {
		c.Take(id)
	}
	if c.Next() != 7 {
		t.Errorf("next %d after ids that are not automatic", c.Next())
	}
	c.Take("job-100")
	if c.Next() != 101 || writes[len(writes)-1] != 100+Block {
		t.Errorf("after job-100: next %d, reservations %v", c.Next(), writes)
	}
}

// A daemon that starts again goes on above everything it finds: the
// reservation, ids of records and logs, an upgrading image's counter.
func TestCounterRestart(t *testing.T) {
	var writes []int
	c := New(func(n int) { writes = append(writes, n) })
	c.Above(64 - 1) // reservation 64 read back
	c.Seen("job-12")
	c.Seen("build")
	if id := c.Peek(func(string) bool { return false }); id != "job-64" {
		t.Fatalf("first id after the restart %s, want job-64", id)
	}
	if len(writes) != 0 {
		t.Fatalf("seeding wrote %v", writes)
	}
	c.Seen("job-80") // a kept log job-80.log
	c.Take(c.Peek(func(string) bool { return false }))
	if c.Next() != 82 || len(writes) != 1 || writes[0] != 81+Block {
		t.Errorf("next %d, reservations %v", c.Next(), writes)
	}
}

// A client's id of the automatic form cannot move the counter: ahead of
// it, it is refused (but for the very id the counter gives next), and a
// number of more than MaxDigits digits is an ordinary name, which a
// daemon finding it at start does not count either. The counter stays in
// range and never hands out an id twice.
func TestCounterOutOfReach(t *testing.T) {
	c := New(nil)
	taken := map[string]bool{}
	isTaken := func(id string) bool { return taken[id] }
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"job-1", true}, // the next one: as if automatic
		{"job-2", false},
		{"job-" + strings.Repeat("9", MaxDigits), false}, // MaxDigits digits: automatic form
		{"job-1" + strings.Repeat("0", MaxDigits), true}, // longer: a name
		{"job-999999999999999999", true},
		{"job-0", true}, {"job-01", true}, {"web", true},
	} {
		if got := c.Allowed(tc.id, isTaken); got != tc.want {
			t.Errorf("Allowed(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	for _, id := range []string{"job-999999999999999999", "job-1" + strings.Repeat("0", MaxDigits)} {
		c.Seen(id) // a record or a log found at start
		c.Take(id)
		taken[id] = true
	}
	seen := map[string]bool{}
	for i := 1; i <= 3; i++ {
		id := c.Peek(isTaken)
		if n, ok := Number(id); !ok || n != i || seen[id] {
			t.Fatalf("automatic id %d is %q, want job-%d", i, id, i)
		}
		c.Take(id)
		taken[id], seen[id] = true, true
	}
	if !c.Allowed("job-2", isTaken) {
		t.Errorf("job-2, behind the counter, refused")
	}
}
