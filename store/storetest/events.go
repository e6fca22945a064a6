package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// Contract tests for store.Events: the events of resumable MCP streams.

// appendAll appends each payload to a stream and checks that they take the
// consecutive indices from first on.
func appendAll(t *testing.T, s store.Events, session, stream string, first int64, keep int, payloads ...string) {
	t.Helper()
	for i, p := range payloads {
		var data []byte
		if p != "" {
			data = []byte(p)
		}
		idx, err := s.AppendEvent(t.Context(), session, stream, data, t0, keep)
		if err != nil {
			t.Fatalf("AppendEvent(%q, %q) #%d: %v", session, stream, i, err)
		}
		if want := first + int64(i); idx != want {
			t.Fatalf("AppendEvent(%q, %q) #%d index = %d, want %d", session, stream, i, idx, want)
		}
	}
}

// describe renders events as "index:data" for comparison.
func describe(events []store.StreamEvent) string {
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprintf("%d:%s", e.Index, e.Data))
	}
	return fmt.Sprint(out)
}

func testEventsAppendAfter(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	// "" is the standalone GET stream's ID: an ordinary name here.
	for _, stream := range []string{"", "s1"} {
		if err := s.OpenStream(ctx, "sess-a", stream, t0); err != nil {
			t.Fatalf("OpenStream(%q): %v", stream, err)
		}
	}
	// The first event is a marker (no data), as MCP's priming event is; it
	// still takes index 0.
	appendAll(t, s, "sess-a", "s1", 0, 0, "", "one", "two", "three", "four")
	appendAll(t, s, "sess-a", "", 0, 0, "standalone")
	// Opening again is idempotent: indices continue.
	if err := s.OpenStream(ctx, "sess-a", "s1", t0.Add(time.Second)); err != nil {
		t.Fatalf("OpenStream again: %v", err)
	}
	appendAll(t, s, "sess-a", "s1", 5, 0, "five")
	// The same stream ID in another session is another stream.
	if err := s.OpenStream(ctx, "sess-b", "s1", t0); err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, "sess-b", "s1", 0, 0, "other")

	tests := []struct {
		name    string
		session string
		stream  string
		after   int64
		limit   int
		want    string
	}{
		{"all", "sess-a", "s1", -1, 0, "[0: 1:one 2:two 3:three 4:four 5:five]"},
		{"below -1 is all", "sess-a", "s1", -7, 0, "[0: 1:one 2:two 3:three 4:four 5:five]"},
		{"after priming", "sess-a", "s1", 0, 0, "[1:one 2:two 3:three 4:four 5:five]"},
		{"middle", "sess-a", "s1", 3, 0, "[4:four 5:five]"},
		{"after last", "sess-a", "s1", 5, 0, "[]"},
		{"beyond last", "sess-a", "s1", 40, 0, "[]"},
		{"first page", "sess-a", "s1", -1, 2, "[0: 1:one]"},
		{"next page", "sess-a", "s1", 1, 2, "[2:two 3:three]"},
		{"last page", "sess-a", "s1", 3, 2, "[4:four 5:five]"},
		{"standalone stream", "sess-a", "", -1, 0, "[0:standalone]"},
		{"other session", "sess-b", "s1", -1, 0, "[0:other]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.EventsAfter(ctx, tt.session, tt.stream, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("EventsAfter(%q, %q, %d, %d): %v", tt.session, tt.stream, tt.after, tt.limit, err)
			}
			if describe(got) != tt.want {
				t.Errorf("EventsAfter(%q, %q, %d, %d) = %s, want %s", tt.session, tt.stream, tt.after, tt.limit, describe(got), tt.want)
			}
		})
	}
	got, err := s.EventsAfter(ctx, "sess-a", "s1", -1, 1)
	if err != nil || len(got) != 1 || len(got[0].Data) != 0 {
		t.Errorf("marker event = %+v, %v; want index 0 with empty data", got, err)
	}
}

func testEventsUnknownStream(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if err := s.OpenStream(ctx, "sess", "known", t0); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ session, stream string }{
		{"sess", "unknown"},
		{"sess", ""},
		{"other-sess", "known"},
	}
	for _, tt := range tests {
		if _, err := s.EventsAfter(ctx, tt.session, tt.stream, -1, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("EventsAfter(%q, %q) of a stream never opened: %v, want ErrNotFound", tt.session, tt.stream, err)
		}
		if _, err := s.AppendEvent(ctx, tt.session, tt.stream, []byte("x"), t0, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendEvent(%q, %q) to a stream never opened: %v, want ErrNotFound", tt.session, tt.stream, err)
		}
	}
	// A failed append left nothing behind: the known stream is still empty
	// and its first append still gets index 0.
	if got, err := s.EventsAfter(ctx, "sess", "known", -1, 0); err != nil || len(got) != 0 {
		t.Errorf("EventsAfter of an empty stream = %s, %v; want none", describe(got), err)
	}
	appendAll(t, s, "sess", "known", 0, 0, "first")
}

// testEventsConcurrentAppends appends from several goroutines on two
// instances (two replicas) at once: every append gets its own index, and the
// indices are consecutive from 0.
func testEventsConcurrentAppends(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	replicas := []store.Store{open(t), open(t)}
	if err := replicas[0].OpenStream(ctx, "sess", "s", t0); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var mu sync.Mutex
	byIndex := map[int64]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		s := replicas[w%len(replicas)]
		wg.Go(func() {
			<-start
			for i := range each {
				data := fmt.Sprintf("w%d-%d", w, i)
				idx, err := s.AppendEvent(ctx, "sess", "s", []byte(data), t0, 0)
				if err != nil {
					t.Errorf("writer %d: append %d: %v", w, i, err)
					return
				}
				mu.Lock()
				if prev, dup := byIndex[idx]; dup {
					t.Errorf("index %d given to both %s and %s", idx, prev, data)
				}
				byIndex[idx] = data
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = writers * each
	for i := range int64(total) {
		if _, ok := byIndex[i]; !ok {
			t.Fatalf("no append got index %d; indices are not consecutive", i)
		}
	}
	// Every replica reads every event, each under the index its append was
	// given, whichever replica wrote it.
	for r, s := range replicas {
		got, err := s.EventsAfter(ctx, "sess", "s", -1, total+10)
		if err != nil {
			t.Fatalf("replica %d: EventsAfter: %v", r, err)
		}
		if len(got) != total {
			t.Fatalf("replica %d: %d events, want %d", r, len(got), total)
		}
		for i, e := range got {
			if e.Index != int64(i) || string(e.Data) != byIndex[e.Index] {
				t.Fatalf("replica %d: event %d = %d:%s, want %d:%s", r, i, e.Index, e.Data, i, byIndex[int64(i)])
			}
		}
	}
}

// testEventsCap keeps the newest events of a stream: resuming from before
// the kept ones fails rather than returning part of what was missed.
func testEventsCap(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for _, stream := range []string{"capped", "uncapped"} {
		if err := s.OpenStream(ctx, "sess", stream, t0); err != nil {
			t.Fatal(err)
		}
	}
	var payloads []string
	for i := range 10 {
		payloads = append(payloads, fmt.Sprintf("e%d", i))
	}
	appendAll(t, s, "sess", "capped", 0, 3, payloads...)
	appendAll(t, s, "sess", "uncapped", 0, 0, payloads...)
	tests := []struct {
		stream string
		after  int64
		want   string // "" when ErrEventsPurged is expected
	}{
		{"capped", -1, ""},
		{"capped", 0, ""},
		{"capped", 5, ""},
		{"capped", 6, "[7:e7 8:e8 9:e9]"},
		{"capped", 8, "[9:e9]"},
		{"capped", 9, "[]"},
		{"uncapped", -1, "[0:e0 1:e1 2:e2 3:e3 4:e4 5:e5 6:e6 7:e7 8:e8 9:e9]"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s after %d", tt.stream, tt.after), func(t *testing.T) {
			got, err := s.EventsAfter(ctx, "sess", tt.stream, tt.after, 0)
			if tt.want == "" {
				if !errors.Is(err, store.ErrEventsPurged) {
					t.Errorf("EventsAfter = %s, %v; want ErrEventsPurged", describe(got), err)
				}
				return
			}
			if err != nil || describe(got) != tt.want {
				t.Errorf("EventsAfter = %s, %v; want %s", describe(got), err, tt.want)
			}
		})
	}
	// A smaller cap trims further on the next append; the watermark only
	// rises.
	appendAll(t, s, "sess", "capped", 10, 1, "e10")
	if _, err := s.EventsAfter(ctx, "sess", "capped", 8, 0); !errors.Is(err, store.ErrEventsPurged) {
		t.Errorf("after a tighter cap, EventsAfter(8): %v, want ErrEventsPurged", err)
	}
	appendAll(t, s, "sess", "capped", 11, 5, "e11")
	if got, err := s.EventsAfter(ctx, "sess", "capped", 9, 0); err != nil || describe(got) != "[10:e10 11:e11]" {
		t.Errorf("after a looser cap, EventsAfter(9) = %s, %v; want [10:e10 11:e11]", describe(got), err)
	}
}

// testEventsSweep drops streams by their last activity (open or append),
// and a session's standalone stream with the session.
func testEventsSweep(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	step("open idle", s.OpenStream(ctx, "sess", "idle", t0))
	step("open written", s.OpenStream(ctx, "sess", "written", t0))
	_, err := s.AppendEvent(ctx, "sess", "written", []byte("late"), t0.Add(2*time.Hour), 0)
	step("append written", err)
	step("open reopened", s.OpenStream(ctx, "sess", "reopened", t0))
	step("reopen reopened", s.OpenStream(ctx, "sess", "reopened", t0.Add(2*time.Hour)))
	// Opening again with an older time does not make a stream look idle.
	step("open fresh", s.OpenStream(ctx, "other", "fresh", t0.Add(3*time.Hour)))
	step("reopen fresh earlier", s.OpenStream(ctx, "other", "fresh", t0))
	// A quiet standalone stream ("") stays while its session is active
	// elsewhere, and goes with an idle session.
	step("open live standalone", s.OpenStream(ctx, "sess", "", t0))
	step("open idle standalone", s.OpenStream(ctx, "idle-sess", "", t0))
	step("open idle request", s.OpenStream(ctx, "idle-sess", "req", t0))

	n, err := s.SweepEvents(ctx, t0.Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("SweepEvents = %d, %v; want 3 (the idle stream, and the idle session's two)", n, err)
	}
	for _, stream := range []string{"", "req"} {
		if _, err := s.EventsAfter(ctx, "idle-sess", stream, -1, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("idle session's stream %q: EventsAfter: %v, want ErrNotFound", stream, err)
		}
	}
	if _, err := s.EventsAfter(ctx, "sess", "idle", -1, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("swept stream: EventsAfter: %v, want ErrNotFound", err)
	}
	// Appending to a swept stream fails rather than restarting it at index 0.
	if _, err := s.AppendEvent(ctx, "sess", "idle", []byte("x"), t0.Add(4*time.Hour), 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("swept stream: AppendEvent: %v, want ErrNotFound", err)
	}
	if got, err := s.EventsAfter(ctx, "sess", "written", -1, 0); err != nil || describe(got) != "[0:late]" {
		t.Errorf("kept stream = %s, %v", describe(got), err)
	}
	for _, k := range []struct{ session, stream string }{{"sess", "reopened"}, {"other", "fresh"}, {"sess", ""}} {
		if _, err := s.EventsAfter(ctx, k.session, k.stream, -1, 0); err != nil {
			t.Errorf("stream %s/%s should survive the sweep: %v", k.session, k.stream, err)
		}
	}
	if n, err := s.SweepEvents(ctx, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second SweepEvents = %d, %v; want 0", n, err)
	}
	if n, err := s.SweepEvents(ctx, t0.Add(5*time.Hour)); err != nil || n != 4 {
		t.Errorf("SweepEvents of everything = %d, %v; want 4", n, err)
	}
}

func testEventsCloseSession(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for _, k := range []struct{ session, stream string }{{"closing", ""}, {"closing", "s1"}, {"staying", "s1"}} {
		if err := s.OpenStream(ctx, k.session, k.stream, t0); err != nil {
			t.Fatal(err)
		}
		appendAll(t, s, k.session, k.stream, 0, 0, "a", "b")
	}
	if err := s.CloseSession(ctx, "closing"); err != nil {
		t.Fatalf("CloseSession: %v", err)
	}
	for _, stream := range []string{"", "s1"} {
		if _, err := s.EventsAfter(ctx, "closing", stream, -1, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("closed session stream %q: EventsAfter: %v, want ErrNotFound", stream, err)
		}
		if _, err := s.AppendEvent(ctx, "closing", stream, []byte("x"), t0, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("closed session stream %q: AppendEvent: %v, want ErrNotFound", stream, err)
		}
	}
	if got, err := s.EventsAfter(ctx, "staying", "s1", -1, 0); err != nil || describe(got) != "[0:a 1:b]" {
		t.Errorf("other session = %s, %v", describe(got), err)
	}
	for _, session := range []string{"closing", "never-opened"} {
		if err := s.CloseSession(ctx, session); err != nil {
			t.Errorf("CloseSession(%q) again or unknown: %v, want nil", session, err)
		}
	}
	// A session reopened after closing starts afresh.
	if err := s.OpenStream(ctx, "closing", "s1", t0); err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, "closing", "s1", 0, 0, "again")
	if got, err := s.EventsAfter(ctx, "closing", "s1", -1, 0); err != nil || describe(got) != "[0:again]" {
		t.Errorf("reopened stream = %s, %v; want only its new event", describe(got), err)
	}
}

// testEventsNotOnFeed: stream events are not workspace changes.
func testEventsNotOnFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.OpenStream(ctx, "sess", "s", t0); err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, "sess", "s", 0, 2, "a", "b", "c")
	if _, err := s.SweepEvents(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSession(ctx, "sess"); err != nil {
		t.Fatal(err)
	}
	// The first change the feed delivers is this ticket, not an event write.
	if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("a", "create")); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Kind != store.KindTicket || c.Key != "T-1" {
		t.Errorf("first change after event writes = %+v, want the ticket", c)
	}
}

// testEventsWriteBatch applies opens, appends and a session close in one
// WriteEvents call, in order, and reports each write's own failure without
// undoing the others.
func testEventsWriteBatch(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if err := s.OpenStream(ctx, "gone", "s", t0); err != nil {
		t.Fatal(err)
	}
	appendAll(t, s, "gone", "s", 0, 0, "old")
	w := func(op store.StreamEventOp, session, stream string, index int64, data string) store.StreamEventWrite {
		var d []byte
		if data != "" {
			d = []byte(data)
		}
		return store.StreamEventWrite{Op: op, Session: session, Stream: stream, Index: index, Data: d, At: t0, Keep: 3}
	}
	writes := []store.StreamEventWrite{
		w(store.StreamOpen, "sess", "a", 0, ""),
		w(store.StreamAppend, "sess", "a", 0, ""),
		w(store.StreamOpen, "sess", "b", 0, ""),
		w(store.StreamAppend, "sess", "a", 1, "a1"),
		w(store.StreamAppend, "sess", "b", -1, "b0"),
		w(store.StreamAppend, "sess", "a", 5, "wrong index"),
		w(store.StreamAppend, "sess", "never", 0, "not open"),
		w(store.StreamAppend, "sess", "a", -1, "a2"),
		w(store.StreamAppend, "sess", "a", 3, "a3"),
		w(store.StreamCloseSession, "gone", "", 0, ""),
		w(store.StreamAppend, "gone", "s", 1, "after close"),
	}
	res, err := s.WriteEvents(ctx, writes)
	if err != nil {
		t.Fatalf("WriteEvents: %v", err)
	}
	if len(res) != len(writes) {
		t.Fatalf("WriteEvents: %d results for %d writes", len(res), len(writes))
	}
	wantErr := map[int]error{5: store.ErrVersionConflict, 6: store.ErrNotFound, 10: store.ErrNotFound}
	wantIndex := map[int]int64{1: 0, 3: 1, 4: 0, 7: 2, 8: 3}
	for i, r := range res {
		if want, ok := wantErr[i]; ok {
			if !errors.Is(r.Err, want) {
				t.Errorf("write %d: error %v, want %v", i, r.Err, want)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("write %d: %v", i, r.Err)
		}
		if want, ok := wantIndex[i]; ok && r.Index != want {
			t.Errorf("write %d: index %d, want %d", i, r.Index, want)
		}
	}
	// Keep 3: the priming event of a was dropped.
	if got, err := s.EventsAfter(ctx, "sess", "a", 0, 0); err != nil || describe(got) != "[1:a1 2:a2 3:a3]" {
		t.Errorf("stream a = %s, %v", describe(got), err)
	}
	if _, err := s.EventsAfter(ctx, "sess", "a", -1, 0); !errors.Is(err, store.ErrEventsPurged) {
		t.Errorf("stream a from the start: %v, want ErrEventsPurged", err)
	}
	if got, err := s.EventsAfter(ctx, "sess", "b", -1, 0); err != nil || describe(got) != "[0:b0]" {
		t.Errorf("stream b = %s, %v", describe(got), err)
	}
	if _, err := s.EventsAfter(ctx, "gone", "s", -1, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("closed session's stream: %v, want ErrNotFound", err)
	}
}
