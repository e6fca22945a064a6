package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

func mcpSession(id, user string, at time.Time) store.MCPSession {
	return store.MCPSession{
		ID:               id,
		ProtocolVersion:  "2025-11-25",
		InitializeParams: json.RawMessage(`{"protocolVersion":"2025-11-25","clientInfo":{"name":"host","version":"1"},"capabilities":{"elicitation":{}}}`),
		UserID:           user,
		CreatedAt:        at,
		LastActive:       at,
	}
}

func testMCPSessionCRUD(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	a, b := open(t), open(t) // two replicas
	in := mcpSession("s-1", "alice", t0)
	if err := a.CreateMCPSession(ctx, in); err != nil {
		t.Fatalf("CreateMCPSession: %v", err)
	}
	if err := b.CreateMCPSession(ctx, mcpSession("s-1", "mallory", t0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateMCPSession of a taken ID = %v, want ErrExists", err)
	}
	got, err := b.GetMCPSession(ctx, "s-1")
	if err != nil {
		t.Fatalf("GetMCPSession on the other instance: %v", err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("GetMCPSession (-want +got):\n%s", diff)
	}
	if _, err := a.GetMCPSession(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMCPSession unknown = %v, want ErrNotFound", err)
	}

	// The log level, and activity, which never goes back.
	if err := b.SetMCPSessionLogLevel(ctx, "s-1", "debug", t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("SetMCPSessionLogLevel: %v", err)
	}
	if err := a.TouchMCPSession(ctx, "s-1", t0.Add(time.Minute)); err != nil {
		t.Fatalf("TouchMCPSession: %v", err)
	}
	want := in
	want.LogLevel, want.LastActive = "debug", t0.Add(2*time.Minute)
	if got, err := a.GetMCPSession(ctx, "s-1"); err != nil {
		t.Fatal(err)
	} else if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after set level and an older touch (-want +got):\n%s", diff)
	}
	if err := a.TouchMCPSession(ctx, "s-1", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	want.LastActive = t0.Add(5 * time.Minute)
	if got, err := b.GetMCPSession(ctx, "s-1"); err != nil {
		t.Fatal(err)
	} else if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after a newer touch (-want +got):\n%s", diff)
	}
	for name, err := range map[string]error{
		"TouchMCPSession":       a.TouchMCPSession(ctx, "nobody", t0),
		"SetMCPSessionLogLevel": a.SetMCPSessionLogLevel(ctx, "nobody", "info", t0),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of an unknown session = %v, want ErrNotFound", name, err)
		}
	}

	if err := b.DeleteMCPSession(ctx, "s-1"); err != nil {
		t.Fatalf("DeleteMCPSession: %v", err)
	}
	if _, err := a.GetMCPSession(ctx, "s-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMCPSession after delete = %v, want ErrNotFound", err)
	}
	if err := b.DeleteMCPSession(ctx, "s-1"); err != nil {
		t.Errorf("DeleteMCPSession again = %v, want nil", err)
	}
}

func testMCPSessionSweep(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for i, id := range []string{"old", "edge", "young"} {
		if err := s.CreateMCPSession(ctx, mcpSession(id, "", t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	// "old" was created first but is active since.
	if err := s.TouchMCPSession(ctx, "old", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := s.SweepMCPSessions(ctx, t0.Add(time.Minute)) // "edge" was last active exactly then: kept
	if err != nil || n != 0 {
		t.Errorf("SweepMCPSessions(t0+1m) = %d, %v; want 0", n, err)
	}
	n, err = s.SweepMCPSessions(ctx, t0.Add(2*time.Minute+time.Second))
	if err != nil || n != 2 {
		t.Errorf("SweepMCPSessions(t0+2m1s) = %d, %v; want 2 (edge, young)", n, err)
	}
	var left []string
	for _, id := range []string{"old", "edge", "young"} {
		switch _, err := s.GetMCPSession(ctx, id); {
		case err == nil:
			left = append(left, id)
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("GetMCPSession(%s): %v", id, err)
		}
	}
	if diff := cmp.Diff([]string{"old"}, left); diff != "" {
		t.Errorf("sessions left after the sweep (-want +got):\n%s", diff)
	}

	// More idle sessions than one pass of the sweep takes, among active
	// ones: all the idle go, none of the active.
	const many = 1234
	for i := range many {
		at := t0
		if i%10 == 0 {
			at = t0.Add(time.Hour)
		}
		if err := s.CreateMCPSession(ctx, mcpSession(fmt.Sprintf("m-%04d", i), "", at)); err != nil {
			t.Fatal(err)
		}
	}
	idle := many - (many+9)/10
	if n, err := s.SweepMCPSessions(ctx, t0.Add(time.Minute)); err != nil || n != int64(idle) {
		t.Errorf("SweepMCPSessions of %d idle sessions = %d, %v", idle, n, err)
	}
	for i := range many {
		_, err := s.GetMCPSession(ctx, fmt.Sprintf("m-%04d", i))
		if active := i%10 == 0; active != (err == nil) {
			t.Errorf("m-%04d (active: %v) after the sweep: %v", i, active, err)
		}
	}
}

// A session's event streams go with it, on delete and on sweep; another
// session's stay.
func testMCPSessionStreamsGoWithIt(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	for _, id := range []string{"ended", "idle", "live"} {
		if err := s.CreateMCPSession(ctx, mcpSession(id, "", t0)); err != nil {
			t.Fatal(err)
		}
		for _, stream := range []string{"", "s1"} {
			if err := s.OpenStream(ctx, id, stream, t0); err != nil {
				t.Fatal(err)
			}
			appendAll(t, s, id, stream, 0, 0, "a")
		}
	}
	if err := s.TouchMCPSession(ctx, "live", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMCPSession(ctx, "ended"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepMCPSessions(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("SweepMCPSessions = %d, %v; want 1 (idle)", n, err)
	}
	for _, id := range []string{"ended", "idle"} {
		for _, stream := range []string{"", "s1"} {
			if _, err := s.EventsAfter(ctx, id, stream, -1, 0); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("session %s stream %q after it went: EventsAfter: %v, want ErrNotFound", id, stream, err)
			}
		}
	}
	for _, stream := range []string{"", "s1"} {
		if got, err := s.EventsAfter(ctx, "live", stream, -1, 0); err != nil || describe(got) != "[0:a]" {
			t.Errorf("live session stream %q = %s, %v", stream, describe(got), err)
		}
	}
}

// testMCPSessionLevelFeed: a new log level emits a change keyed by the
// session's ID, for the replicas holding a copy to apply it; the same level
// again (a replica replaying it) emits nothing, and still counts as
// activity; an unknown session is ErrNotFound.
func testMCPSessionLevelFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMCPSession(ctx, mcpSession("s-1", "alice", t0)); err != nil {
		t.Fatal(err)
	}
	for i, level := range []string{"debug", "debug", "error"} {
		if err := s.SetMCPSessionLogLevel(ctx, "s-1", level, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMCPSessionLogLevel(ctx, "nobody", "debug", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetMCPSessionLogLevel of an unknown session: %v, want ErrNotFound", err)
	}
	got, err := s.GetMCPSession(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.LogLevel != "error" || !got.LastActive.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("session = level %q, last active %v; want error, %v", got.LogLevel, got.LastActive, t0.Add(3*time.Minute))
	}
	// Two changes, for the two new levels; a marker ends the wait (the
	// deletion of a copied session).
	if _, err := s.CopyMCPSession(ctx, "s-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMCPSession(ctx, "s-1"); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for range 3 {
		c := next(t, ch)
		kinds = append(kinds, c.Kind+" "+c.Key)
	}
	want := []string{store.KindMCPSessionLevel + " s-1", store.KindMCPSessionLevel + " s-1", store.KindMCPSession + " s-1"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// testMCPSessionDeleteFeed: deleting a session that a replica copied
// emits a change keyed by its ID, so that every replica closes its copy;
// deleting a session never copied (its only copy is the deleter's),
// deleting an unknown session, creating, touching and sweeping emit
// nothing (an idle session's copies end on their own timers).
// CopyMCPSession reads the session as GetMCPSession does, and fails on
// one deleted or swept.
func testMCPSessionDeleteFeed(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s-1", "s-2", "s-3", "s-idle"} {
		if err := s.CreateMCPSession(ctx, mcpSession(id, "alice", t0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		if err := s.TouchMCPSession(ctx, id, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SweepMCPSessions(ctx, t0.Add(time.Minute)); err != nil { // s-idle
		t.Fatal(err)
	}
	for _, id := range []string{"s-1", "s-3"} {
		want, err := s.GetMCPSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.CopyMCPSession(ctx, id)
		if err != nil {
			t.Fatalf("CopyMCPSession(%s): %v", id, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CopyMCPSession(%s) (-GetMCPSession +got):\n%s", id, diff)
		}
	}
	for _, id := range []string{"nobody", "s-idle"} {
		if _, err := s.CopyMCPSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CopyMCPSession(%s) = %v, want ErrNotFound", id, err)
		}
	}
	// s-2 was never copied: its deletion is not on the feed, and s-3's
	// comes right after s-1's.
	for _, id := range []string{"nobody", "s-1", "s-2", "s-3"} {
		if err := s.DeleteMCPSession(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"s-1", "s-3"} {
		if got := next(t, ch); got.Kind != store.KindMCPSession || got.Key != want {
			t.Errorf("change = %+v, want kind %q key %q", got, store.KindMCPSession, want)
		}
	}
	for _, id := range []string{"s-1", "s-2"} {
		if _, err := s.CopyMCPSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CopyMCPSession(%s) after its deletion = %v, want ErrNotFound", id, err)
		}
	}
}
