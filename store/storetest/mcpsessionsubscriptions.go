package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/store"
)

// Subscriptions and the deliverer of MCP sessions: written on one replica,
// read on another; the deliverer is one replica at a time; both go with
// the session, on DELETE and on the sweep.
func testMCPSessionSubscriptions(t *testing.T, newDB NewDB) {
	ctx := t.Context()
	open := newDB(t, Options{})
	a, b := open(t), open(t) // two replicas
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		if err := a.CreateMCPSession(ctx, mcpSession(id, "alice", t0)); err != nil {
			t.Fatal(err)
		}
	}
	subscribers := func(st store.Store, replica string, seq int64, uris ...string) []store.MCPSessionSubscription {
		t.Helper()
		got, err := st.MCPSessionSubscribers(ctx, replica, seq, uris)
		if err != nil {
			t.Fatalf("MCPSessionSubscribers(%q, %d, %q): %v", replica, seq, uris, err)
		}
		return got
	}
	// change commits a change and returns its sequence number.
	changes, err := a.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	change := func(id string) int64 {
		t.Helper()
		if _, err := a.CreateTicket(ctx, ticket(id, "new", "", t0), hist("a", "create")); err != nil {
			t.Fatal(err)
		}
		// The feed also carries the sessions' ends: skip to the ticket's.
		for {
			select {
			case c := <-changes:
				if c.Key == id {
					return c.Seq
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no change on the feed for ticket %s", id)
				return 0
			}
		}
	}

	// Subscriptions, written on either replica, subscribing twice included.
	for _, s := range []struct {
		st      store.Store
		id, uri string
	}{
		{a, "s-1", "ticket://T-1"}, {b, "s-1", "ticket://T-2"}, {b, "s-1", "ticket://T-1"},
		{b, "s-2", "ticket://T-1"}, {a, "s-3", "ticket://T-1"},
	} {
		if err := s.st.SubscribeMCPSession(ctx, s.id, s.uri); err != nil {
			t.Fatalf("SubscribeMCPSession(%s, %s): %v", s.id, s.uri, err)
		}
	}
	if err := a.SubscribeMCPSession(ctx, "nobody", "ticket://T-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SubscribeMCPSession of an unknown session = %v, want ErrNotFound", err)
	}
	c0 := change("C-0")
	if got := subscribers(b, "r-a", c0, "ticket://T-1"); len(got) != 0 {
		t.Errorf("subscribers before any deliverer is named = %v, want none", got)
	}

	// Deliverers: only-if-none keeps the first; a plain set takes over from
	// the next change on; naming the same replica again changes nothing.
	type set struct {
		st         store.Store
		id, rep    string
		onlyIfNone bool
		want       bool
	}
	setDeliverers := func(sets ...set) {
		t.Helper()
		for _, tt := range sets {
			got, err := tt.st.SetMCPSessionDeliverer(ctx, tt.id, tt.rep, tt.onlyIfNone)
			if err != nil || got != tt.want {
				t.Errorf("SetMCPSessionDeliverer(%s, %s, onlyIfNone %v) = %v, %v; want %v", tt.id, tt.rep, tt.onlyIfNone, got, err, tt.want)
			}
		}
	}
	setDeliverers(
		set{a, "s-1", "r-a", true, true},  // the subscribe's replica, none named yet
		set{b, "s-1", "r-b", true, false}, // another subscribe elsewhere: r-a stays
		set{b, "s-2", "r-b", false, true}, // a GET stream opens on r-b
		set{a, "s-3", "r-b", false, true},
	)
	c1 := change("C-1")
	setDeliverers(
		set{a, "s-3", "r-a", false, true}, // the GET stream moves to r-a
		set{a, "s-1", "r-a", false, true}, // a GET stream opens on r-a, which delivers already
	)
	c2 := change("C-2")
	if _, err := a.SetMCPSessionDeliverer(ctx, "nobody", "r-a", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetMCPSessionDeliverer of an unknown session = %v, want ErrNotFound", err)
	}
	for id, want := range map[string]string{"s-1": "r-a", "s-2": "r-b", "s-3": "r-a"} {
		if got, err := Deliverer(ctx, b, id); err != nil || got != want {
			t.Errorf("deliverer of %s = %q, %v; want %q", id, got, err, want)
		}
	}
	if _, err := Deliverer(ctx, b, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deliverer of an unknown session = %v, want ErrNotFound (left out by GetMCPSessionDeliverers)", err)
	}

	// Several at once: unknown sessions left out, one with none named
	// there as "", and more IDs than one query binds.
	if err := a.CreateMCPSession(ctx, mcpSession("s-none", "alice", t0)); err != nil {
		t.Fatal(err)
	}
	ids := []string{"s-3", "nobody", "s-1", "s-none", "s-2", "s-1"}
	for i := range 300 {
		ids = append(ids, fmt.Sprintf("gone-%d", i))
	}
	ids = append(ids, "s-3")
	got, err := b.GetMCPSessionDeliverers(ctx, ids)
	if err != nil {
		t.Fatalf("GetMCPSessionDeliverers: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"s-1": "r-a", "s-2": "r-b", "s-3": "r-a", "s-none": ""}, got); diff != "" {
		t.Errorf("GetMCPSessionDeliverers (-want +got):\n%s", diff)
	}
	if got, err := b.GetMCPSessionDeliverers(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMCPSessionDeliverers(none) = %v, %v; want an empty map", got, err)
	}
	if err := a.DeleteMCPSession(ctx, "s-none"); err != nil {
		t.Fatal(err)
	}

	all := []string{"ticket://T-1", "ticket://T-2", "ticket://T-9"}
	for _, tt := range []struct {
		replica string
		seq     int64
		want    []store.MCPSessionSubscription
	}{
		// C-0 came before any deliverer was named: no one delivers it, also
		// not r-b, s-3's previous deliverer, whose feed may reach C-0 only
		// after s-3 moved to r-a (its period began after C-0).
		{"r-a", c0, nil},
		{"r-b", c0, nil},
		// s-3 moved from r-b to r-a between C-1 and C-2: C-1 is r-b's, C-2 r-a's.
		{"r-a", c1, []store.MCPSessionSubscription{{SessionID: "s-1", URI: "ticket://T-1"}, {SessionID: "s-1", URI: "ticket://T-2"}}},
		{"r-b", c1, []store.MCPSessionSubscription{{SessionID: "s-2", URI: "ticket://T-1"}, {SessionID: "s-3", URI: "ticket://T-1"}}},
		{"r-a", c2, []store.MCPSessionSubscription{{SessionID: "s-1", URI: "ticket://T-1"}, {SessionID: "s-1", URI: "ticket://T-2"}, {SessionID: "s-3", URI: "ticket://T-1"}}},
		{"r-b", c2, []store.MCPSessionSubscription{{SessionID: "s-2", URI: "ticket://T-1"}}},
	} {
		if diff := cmp.Diff(tt.want, subscribers(a, tt.replica, tt.seq, all...)); diff != "" {
			t.Errorf("subscribers %s delivers change %d to (-want +got):\n%s", tt.replica, tt.seq, diff)
		}
	}
	if got := subscribers(a, "r-a", c2); len(got) != 0 {
		t.Errorf("subscribers of no URI = %v, want none", got)
	}

	// Unsubscribe, twice.
	for range 2 {
		if err := b.UnsubscribeMCPSession(ctx, "s-1", "ticket://T-1"); err != nil {
			t.Fatalf("UnsubscribeMCPSession: %v", err)
		}
	}
	want := []store.MCPSessionSubscription{{SessionID: "s-1", URI: "ticket://T-2"}, {SessionID: "s-3", URI: "ticket://T-1"}}
	if diff := cmp.Diff(want, subscribers(a, "r-a", c2, "ticket://T-1", "ticket://T-2")); diff != "" {
		t.Errorf("after unsubscribing s-1 from ticket://T-1 (-want +got):\n%s", diff)
	}

	// A DELETE and the sweep take subscriptions and deliverer along; a
	// session made again under the same ID starts with neither.
	if err := b.DeleteMCPSession(ctx, "s-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.TouchMCPSession(ctx, "s-2", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := a.SweepMCPSessions(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("SweepMCPSessions = %d, %v; want 1 (s-3)", n, err)
	}
	for _, id := range []string{"s-1", "s-3"} {
		if err := a.CreateMCPSession(ctx, mcpSession(id, "alice", t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if got, err := Deliverer(ctx, b, id); err != nil || got != "" {
			t.Errorf("deliverer of %s made again after it ended = %q, %v; want none", id, got, err)
		}
		if _, err := a.SetMCPSessionDeliverer(ctx, id, "r-a", false); err != nil {
			t.Fatal(err)
		}
	}
	// A session recorded with its deliverer: named from the last change
	// committed then on, as a first SetMCPSessionDeliverer would; naming
	// the same replica again is no change, another takes over.
	named := mcpSession("s-4", "alice", t0.Add(time.Hour))
	named.Deliverer = "r-b"
	if err := a.CreateMCPSession(ctx, named); err != nil {
		t.Fatal(err)
	}
	if got, err := Deliverer(ctx, b, "s-4"); err != nil || got != "r-b" {
		t.Errorf("deliverer of a session recorded with r-b = %q, %v; want r-b", got, err)
	}
	if got, err := a.GetMCPSession(ctx, "s-4"); err != nil || got.Deliverer != "" {
		t.Errorf("GetMCPSession(s-4).Deliverer = %q, %v; want empty", got.Deliverer, err)
	}
	if err := b.SubscribeMCPSession(ctx, "s-4", "ticket://T-2"); err != nil {
		t.Fatal(err)
	}
	setDeliverers(set{a, "s-4", "r-a", true, false}, set{b, "s-4", "r-b", false, true})
	c4 := change("C-4")
	if diff := cmp.Diff([]store.MCPSessionSubscription{{SessionID: "s-4", URI: "ticket://T-2"}}, subscribers(a, "r-b", c4, "ticket://T-2")); diff != "" {
		t.Errorf("r-b, named when s-4 was recorded, delivers (-want +got):\n%s", diff)
	}
	if err := a.DeleteMCPSession(ctx, "s-4"); err != nil {
		t.Fatal(err)
	}

	want = []store.MCPSessionSubscription{{SessionID: "s-2", URI: "ticket://T-1"}}
	c3 := change("C-3")
	if diff := cmp.Diff(want, subscribers(b, "r-b", c3, "ticket://T-1", "ticket://T-2")); diff != "" {
		t.Errorf("after the DELETE and the sweep, r-b (-want +got):\n%s", diff)
	}
	if got := subscribers(b, "r-a", c3, "ticket://T-1", "ticket://T-2"); len(got) != 0 {
		t.Errorf("after the DELETE and the sweep, r-a delivers %v, want none", got)
	}
}

// Deliverer reads the replica named as session id's deliverer ("" for
// none) through GetMCPSessionDeliverers; ErrNotFound if the session does
// not exist.
func Deliverer(ctx context.Context, st store.MCPSessionSubscriptions, id string) (string, error) {
	got, err := st.GetMCPSessionDeliverers(ctx, []string{id})
	if err != nil {
		return "", err
	}
	named, ok := got[id]
	if !ok {
		return "", fmt.Errorf("MCP session %s: %w", id, store.ErrNotFound)
	}
	return named, nil
}
