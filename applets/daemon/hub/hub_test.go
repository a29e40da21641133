package hub

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"cgroupd/core/event"
)

type sink struct {
	b    []byte
	sent int
}

func (s *sink) Queue(line []byte) { s.b = append(s.b, line...) }
func (s *sink) Backlog() int      { return len(s.b) - s.sent }

// Publish writes the line, keeps it, tells the observers and queues it for
// the followers that may see it; a follower too far behind has lines
// dropped and counted, and gets one gap mark.
func TestPublish(t *testing.T) {
	var stderr bytes.Buffer
	h := New(&stderr, func() time.Time { return time.UnixMilli(1000) })
	var seen []string
	h.Observe(func(e *Event) { seen = append(seen, e.Type+":"+e.Reason) })
	mine, all, slow := &sink{}, &sink{}, &sink{}
	h.Subscribe(Filter{UID: 1000}, mine)
	h.Subscribe(Filter{Root: true, Types: map[string]bool{"job.kill": true}}, all)
	s := h.Subscribe(Filter{Root: true}, slow)
	h.Publish(&Event{Type: "job.kill", Job: "a", Owner: 1000, Reason: "client", KV: []string{"id", "a", "signal", "9"}})
	h.Publish(&Event{Type: "job.start", Job: "b", Owner: 0, KV: []string{"id", "b"}})
	want := "EVENT schema=cgroupd.v1 ts_unix_ms=1000 type=job.kill id=a signal=9\n"
	if !strings.HasPrefix(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 2 {
		t.Errorf("stderr %q, want both lines, the first %q", stderr.String(), want)
	}
	if string(mine.b) != want || string(all.b) != want {
		t.Errorf("uid 1000 got %q, the job.kill filter got %q; want only the kill", mine.b, all.b)
	}
	if strings.Join(seen, " ") != "job.kill:client job.start:" {
		t.Errorf("observers saw %v", seen)
	}
	if hist, n := h.History(Filter{Root: true, ID: "b"}); n != 1 || !strings.Contains(string(hist), "type=job.start") {
		t.Errorf("history of b: %d %q", n, hist)
	}
	if l := h.Latest(Filter{Root: true}, 1); len(l) != 1 || !strings.Contains(string(l[0]), "job.start") {
		t.Errorf("latest: %q", l)
	}
	for range SubscriberMax / len(want) {
		h.Publish(&Event{Type: "job.kill", Job: "a", Owner: 1000, KV: []string{"id", "a", "signal", "9"}})
	}
	if h.Dropped() == 0 || slow.Backlog() > SubscriberMax {
		t.Fatalf("dropped %d, backlog %d: want drops and a bounded backlog", h.Dropped(), slow.Backlog())
	}
	g := string(s.Gap(time.UnixMilli(2000)))
	if !strings.Contains(g, "type=events.dropped count=") || s.Gap(time.UnixMilli(2000)) != nil {
		t.Errorf("gap %q, then a second one: want one events.dropped line", g)
	}
}

// Dropped counts the lines the stderr sink dropped too: one figure, the
// hub's, for STATS, the metrics and an upgrade.
func TestDroppedBySink(t *testing.T) {
	stuck := make(chan struct{})
	s := event.NewSink(blocked(stuck), 100, nil)
	defer s.Close(0)
	defer close(stuck)
	h := New(s.Events(), nil)
	for range 10 {
		h.Publish(&Event{Type: "job.start", Job: "a", KV: []string{"id", "a"}})
	}
	if s.Dropped() == 0 || h.Dropped() != s.Dropped() {
		t.Errorf("hub counts %d dropped, the sink %d: want the sink's drops (> 0) in the hub's figure", h.Dropped(), s.Dropped())
	}
}

// blocked is a writer that does not return until its channel closes.
type blocked chan struct{}

func (b blocked) Write(p []byte) (int, error) {
	<-b
	return len(p), nil
}

// An upgrade hands the ring over: the new image's history starts with the
// old one's events (their owners and filters intact), then its own; a
// full ring keeps the newest RingSize; the drop count goes on.
func TestRingHandover(t *testing.T) {
	old := New(nil, func() time.Time { return time.UnixMilli(1) })
	for i := 0; i < RingSize+10; i++ {
		old.Publish(&Event{Type: "job.start", Job: "j" + strings.Repeat("x", i%3), Owner: int64(i % 2), KV: []string{"n", strings.Repeat("1", 1+i%5)}})
	}
	kept := old.Ring()
	if len(kept) != RingSize {
		t.Fatalf("ring of %d events, want %d", len(kept), RingSize)
	}
	n := New(nil, func() time.Time { return time.UnixMilli(2) })
	n.Publish(&Event{Type: "job.adopt", Job: "a", KV: []string{"id", "a"}}) // published during the start
	n.Restore(kept, 7)
	hist, cnt := n.History(Filter{Root: true})
	var want []byte
	for _, k := range kept[1:] { // the oldest makes room for the new image's own
		want = append(want, k.Line...)
	}
	want = append(want, "EVENT schema=cgroupd.v1 ts_unix_ms=2 type=job.adopt id=a\n"...)
	if cnt != RingSize || !bytes.Equal(hist, want) {
		t.Errorf("history of %d events: not the old ring's newest, then the new image's own", cnt)
	}
	mine, _ := n.History(Filter{UID: 1})
	wantMine, _ := old.History(Filter{UID: 1})
	if !bytes.HasSuffix(wantMine, mine) || len(wantMine)-len(mine) > len(kept[0].Line) {
		t.Errorf("uid 1's history changed across the hand-over")
	}
	n.Publish(&Event{Type: "job.exit", Job: "a", KV: []string{"id", "a"}})
	if l := n.Latest(Filter{Root: true}, 2); len(l) != 2 || !bytes.Contains(l[0], []byte("job.adopt")) || !bytes.Contains(l[1], []byte("job.exit")) {
		t.Errorf("after the hand-over the newest are %q", l)
	}
	if n.Dropped() != 7 {
		t.Errorf("dropped %d, want 7 carried over", n.Dropped())
	}
}
