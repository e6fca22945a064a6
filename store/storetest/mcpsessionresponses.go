package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// testMCPSessionResponses: a response stored on one replica is on the feed
// and readable on the other; a retry changes nothing; it is deleted once
// delivered, by the sweep, and with its session (DELETE and the sweep of
// idle sessions).
func testMCPSessionResponses(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	a, b := open(t), open(t)    // two replicas
	ch, err := b.Subscribe(ctx) // the writer's own feed: another instance's needs Run
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s-1", "s-2", "s-idle"} {
		if err := a.CreateMCPSession(ctx, mcpSession(id, "alice", t0)); err != nil {
			t.Fatal(err)
		}
	}
	resp := func(session, id string, at time.Time) store.MCPSessionResponse {
		return store.MCPSessionResponse{
			SessionID: session, RPCID: id, At: at,
			Body: json.RawMessage(`{"jsonrpc":"2.0","id":` + id + `,"result":{"action":"accept"}}`),
		}
	}
	if err := b.AddMCPSessionResponse(ctx, resp("nobody", "1", t0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddMCPSessionResponse of an unknown session = %v, want ErrNotFound", err)
	}
	r2, r1 := resp("s-1", "2", t0.Add(time.Second)), resp("s-1", "1", t0.Add(2*time.Second))
	for _, r := range []store.MCPSessionResponse{r2, r1, resp("s-1", `"str"`, t0.Add(3*time.Second)), resp("s-2", "1", t0), resp("s-idle", "1", t0)} {
		if err := b.AddMCPSessionResponse(ctx, r); err != nil {
			t.Fatalf("AddMCPSessionResponse(%s %s): %v", r.SessionID, r.RPCID, err)
		}
	}
	// A client's retry of a response still waiting: nothing changes.
	retry := r1
	retry.Body, retry.At = json.RawMessage(`{"jsonrpc":"2.0","id":1,"result":{"action":"decline"}}`), t0.Add(time.Hour)
	if err := b.AddMCPSessionResponse(ctx, retry); err != nil {
		t.Fatalf("AddMCPSessionResponse retry: %v", err)
	}
	for _, want := range []string{"s-1", "s-1", "s-1", "s-2", "s-idle"} {
		if got := next(t, ch); got.Kind != store.KindMCPSessionResponse || got.Key != want {
			t.Errorf("change = %+v, want kind %q key %q", got, store.KindMCPSessionResponse, want)
		}
	}

	got, err := a.ListMCPSessionResponses(ctx, "s-1")
	if err != nil {
		t.Fatalf("ListMCPSessionResponses: %v", err)
	}
	want := []store.MCPSessionResponse{r2, r1, resp("s-1", `"str"`, t0.Add(3*time.Second))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListMCPSessionResponses oldest first (-want +got):\n%s", diff)
	}

	// Delivered.
	if err := a.DeleteMCPSessionResponse(ctx, "s-1", "2"); err != nil {
		t.Fatalf("DeleteMCPSessionResponse: %v", err)
	}
	if err := a.DeleteMCPSessionResponse(ctx, "s-1", "2"); err != nil {
		t.Errorf("DeleteMCPSessionResponse twice: %v", err)
	}
	// Nobody took it: swept.
	if n, err := b.SweepMCPSessionResponses(ctx, t0.Add(2500*time.Millisecond)); err != nil || n != 3 { // s-1/1, s-2/1, s-idle/1
		t.Errorf("SweepMCPSessionResponses = %d, %v; want 3", n, err)
	}
	wantIDs := map[string][]string{"s-1": {`"str"`}, "s-2": nil, "s-idle": nil}
	check := func(when string) {
		t.Helper()
		for session, want := range wantIDs {
			rs, err := b.ListMCPSessionResponses(ctx, session)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.RPCID)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: responses of %s (-want +got):\n%s", when, session, diff)
			}
		}
	}
	check("after delivery and sweep")

	// They go with their session: its DELETE, and the sweep of idle ones.
	for _, r := range []store.MCPSessionResponse{resp("s-2", "5", t0.Add(time.Hour)), resp("s-idle", "5", t0.Add(time.Hour))} {
		if err := b.AddMCPSessionResponse(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.TouchMCPSession(ctx, "s-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.TouchMCPSession(ctx, "s-2", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteMCPSession(ctx, "s-2"); err != nil {
		t.Fatal(err)
	}
	if n, err := a.SweepMCPSessions(ctx, t0.Add(time.Minute)); err != nil || n != 1 { // s-idle
		t.Fatalf("SweepMCPSessions = %d, %v; want 1", n, err)
	}
	check("after the sessions' end")
}
