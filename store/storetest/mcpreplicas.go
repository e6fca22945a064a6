package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// testMCPReplicas: a stream's call is recorded once with the stream's
// opening, read back with its owner's heartbeat, taken over only from the
// owner named, and goes with its session; a replica that ended reads as
// never heard of.
func testMCPReplicas(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	s := openOne(t, newDB)
	if err := s.CreateMCPSession(ctx, mcpSession("sess", "", t0)); err != nil {
		t.Fatal(err)
	}
	req := json.RawMessage(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"wait_for_ticket"}}`)
	res, err := s.WriteEvents(ctx, []store.StreamEventWrite{
		{Op: store.StreamOpen, Session: "sess", Stream: "s1", At: t0},
		{Op: store.StreamCall, Session: "sess", Stream: "s1", Owner: "a", Data: req},
		// A second record of the same call changes nothing.
		{Op: store.StreamCall, Session: "sess", Stream: "s1", Owner: "b", Data: []byte(`{}`)},
		{Op: store.StreamAppend, Session: "sess", Stream: "s1", Index: 0, Data: []byte("x"), At: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("write %d: %v", i, r.Err)
		}
	}
	if _, err := s.GetMCPStreamCall(ctx, "sess", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMCPStreamCall of a stream without a call: %v, want ErrNotFound", err)
	}
	get := func(want store.MCPStreamCall) {
		t.Helper()
		got, err := s.GetMCPStreamCall(ctx, "sess", "s1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetMCPStreamCall (-want +got):\n%s", diff)
		}
	}
	want := store.MCPStreamCall{Session: "sess", Stream: "s1", Owner: "a", Request: req}
	get(want) // never heard of a
	if err := s.BeatMCPReplica(ctx, "a", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.BeatMCPReplica(ctx, "a", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	want.OwnerSeen = t0.Add(2 * time.Second)
	get(want)
	if err := s.EndMCPReplica(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	want.OwnerSeen = time.Time{}
	get(want)

	if err := s.TakeMCPStreamCall(ctx, "sess", "s1", "b", "c"); !errors.Is(err, store.ErrVersionConflict) {
		t.Errorf("TakeMCPStreamCall from a replica that does not own it: %v, want ErrVersionConflict", err)
	}
	if err := s.TakeMCPStreamCall(ctx, "sess", "none", "a", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeMCPStreamCall of a stream without a call: %v, want ErrNotFound", err)
	}
	if err := s.TakeMCPStreamCall(ctx, "sess", "s1", "a", "b"); err != nil {
		t.Fatalf("TakeMCPStreamCall from its owner: %v", err)
	}
	if err := s.BeatMCPReplica(ctx, "b", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	want.Owner, want.OwnerSeen = "b", t0.Add(3*time.Second)
	get(want)

	if n, err := s.SweepMCPReplicas(ctx, t0.Add(3*time.Second)); err != nil || n != 1 {
		t.Errorf("SweepMCPReplicas = %d, %v; want 1 (a, ended)", n, err)
	}
	get(want) // b stays

	if err := s.DeleteMCPSession(ctx, "sess"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMCPStreamCall(ctx, "sess", "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMCPStreamCall after the session's end: %v, want ErrNotFound", err)
	}
}
