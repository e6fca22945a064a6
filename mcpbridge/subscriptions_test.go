package mcpbridge

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store/storetest"
	"github.com/parleyhq/parley/workspace"
)

// update is a notifications/resources/updated on a standalone GET stream:
// its SSE event ID and the resource's URI.
type update struct{ id, uri string }

// updatesOn reads a standalone GET stream's events and returns the URIs of
// its notifications/resources/updated, in order.
func updatesOn(t *testing.T, resp *http.Response) <-chan string {
	t.Helper()
	events := updateEventsOn(t, resp)
	out := make(chan string, 16)
	go func() {
		defer close(out)
		for u := range events {
			out <- u.uri
		}
	}()
	return out
}

// updateEventsOn reads a standalone GET stream's events and returns its
// notifications/resources/updated with their event IDs, in order.
func updateEventsOn(t *testing.T, resp *http.Response) <-chan update {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET stream: HTTP %d: %s", resp.StatusCode, body)
	}
	out := make(chan update, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var id string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "id:"); ok {
				id = strings.TrimSpace(v)
				continue
			}
			if line == "" {
				id = ""
				continue
			}
			data, ok := strings.CutPrefix(line, "data:")
			if !ok {
				continue
			}
			var msg struct {
				Method string `json:"method"`
				Params struct {
					URI string `json:"uri"`
				} `json:"params"`
			}
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &msg) == nil && msg.Method == methodResourceUpdated {
				out <- update{id: id, uri: msg.Params.URI}
			}
		}
	}()
	return out
}

// nextUpdate returns the next update on a stream.
func nextUpdate(t *testing.T, updates <-chan string, on string) string {
	t.Helper()
	select {
	case uri, ok := <-updates:
		if !ok {
			t.Fatalf("the GET stream on %s ended", on)
		}
		return uri
	case <-time.After(30 * time.Second):
		t.Fatalf("no notifications/resources/updated on the GET stream on %s within 30s", on)
	}
	return ""
}

var saveCalls atomic.Int64

// saveTicket changes a ticket with save_ticket, in the session, on r.
func saveTicket(t *testing.T, r *replica, sessionID, ticketID string) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"save_ticket","arguments":{"ticket_id":%q,"summary":"change %d"}}}`,
		100+saveCalls.Add(1), ticketID, saveCalls.Load())
	status, resp := sessionPost(t, r, "alice", sessionID, body)
	if status != http.StatusOK || strings.Contains(resp, `"isError":true`) || strings.Contains(resp, `"error"`) {
		t.Fatalf("save_ticket %s: HTTP %d: %s", ticketID, status, resp)
	}
}

// A session's subscriptions deliver through whichever replica holds its
// standalone GET stream, once: subscribed on A with the stream on B, the
// update arrives on B's stream, once; unsubscribing on A stops it; the
// stream moving to A takes delivery along. Each change is followed by one
// to T-2, also subscribed, so that a second update of T-1 would show up
// before T-2's.
func TestSubscriptionsDeliverThroughTheStreamsReplica(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			open := be.newOpen(t)
			reps := startReplicas(t, open, clock, 2)
			a, b := reps[0], reps[1]
			ctx := t.Context()
			for _, id := range []string{"T-1", "T-2"} {
				if _, _, err := a.bridge.ws.SaveTicket(ctx, "setup", workspace.TicketInput{ID: id, Customer: ptr("acme")}); err != nil {
					t.Fatal(err)
				}
			}
			// The session opens on A, and subscribes there.
			cs := connectThrough(t, newRoundRobin(t, "alice", a))
			id := cs.ID()
			for _, uri := range []string{"ticket://T-1", "ticket://T-2"} {
				if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
					t.Fatalf("subscribe to %s on A: %v", uri, err)
				}
			}

			// Its GET stream opens on B (rebuilt there).
			streamB := sessionRequest(t, b, http.MethodGet, "alice", id)
			onB := updatesOn(t, streamB)
			if got, err := storetest.Deliverer(ctx, a.bridge.subs.store, id); err != nil || got != b.bridge.subs.replica {
				t.Fatalf("deliverer with the GET stream open on B = %q, %v; want B (%q)", got, err, b.bridge.subs.replica)
			}
			steps := []struct {
				name    string
				on      *replica // where the ticket changes
				ticket  string
				updates <-chan string
				want    string
			}{
				{"T-1 changed on A", a, "T-1", onB, "ticket://T-1"},
				{"then T-2 changed on B", b, "T-2", onB, "ticket://T-2"},
				{"T-1 changed on B", b, "T-1", onB, "ticket://T-1"},
				{"then T-2 changed on A", a, "T-2", onB, "ticket://T-2"},
			}
			for _, s := range steps {
				saveTicket(t, s.on, id, s.ticket)
				if got := nextUpdate(t, s.updates, "B"); got != s.want {
					t.Fatalf("%s: the next update on B's stream is %s, want %s", s.name, got, s.want)
				}
			}

			// Unsubscribed on A: T-1's change is not delivered, T-2's is.
			if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "ticket://T-1"}); err != nil {
				t.Fatalf("unsubscribe on A: %v", err)
			}
			saveTicket(t, b, id, "T-1")
			saveTicket(t, a, id, "T-2")
			if got := nextUpdate(t, onB, "B"); got != "ticket://T-2" {
				t.Fatalf("after unsubscribing from T-1, the next update on B's stream is %s, want ticket://T-2", got)
			}
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "ticket://T-1"}); err != nil {
				t.Fatalf("subscribe again on A: %v", err)
			}

			// The GET stream moves to A: so does delivery.
			streamB.Body.Close()
			onA := updatesOn(t, sessionRequest(t, a, http.MethodGet, "alice", id))
			if got, err := storetest.Deliverer(ctx, b.bridge.subs.store, id); err != nil || got != a.bridge.subs.replica {
				t.Fatalf("deliverer with the GET stream moved to A = %q, %v; want A (%q)", got, err, a.bridge.subs.replica)
			}
			// The first update on A's new stream is the first change made
			// after it opened (nothing older is replayed on it); then each
			// change once.
			for _, s := range []struct {
				on     *replica
				ticket string
			}{{b, "T-2"}, {a, "T-1"}, {b, "T-2"}, {b, "T-1"}, {a, "T-2"}} {
				saveTicket(t, s.on, id, s.ticket)
				if got, want := nextUpdate(t, onA, "A"), "ticket://"+s.ticket; got != want {
					t.Fatalf("%s changed: the next update on A's stream is %s, want %s", s.ticket, got, want)
				}
			}
		})
	}
}

// resumeStream opens a session's standalone GET stream on r, resuming it
// after the event lastEventID.
func resumeStream(t *testing.T, r *replica, sessionID, lastEventID string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", sessionID)
	req.Header.Set("Authorization", "Bearer alice")
	req.Header.Set("Last-Event-ID", lastEventID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// nextUpdateEvent returns the next update on a stream, with its event ID.
func nextUpdateEvent(t *testing.T, updates <-chan update, on string) update {
	t.Helper()
	select {
	case u, ok := <-updates:
		if !ok {
			t.Fatalf("the GET stream on %s ended", on)
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("no notifications/resources/updated on the GET stream on %s within 30s", on)
	}
	return update{}
}

// A client resuming its standalone GET stream with Last-Event-ID on
// another replica (as go-sdk's client does when the stream breaks) gets
// every event it missed, once, and goes on with the event IDs it holds:
// each copy of the session reads, on a resumption, what the others stored,
// and numbers the stream's events from the client's count, so the events
// one copy stores follow those another stored. The stream opens on B; while
// it is closed B stores two updates; the client resumes on A after B's
// first event: A replays B's two, then goes on; the client resumes on B
// after the second of them (as if A's live event had been lost): B replays
// A's event under the ID A gave it, then goes on. A second session's stream
// on B, subscribed to a third ticket too, tells when B's feed has passed
// the changes before one of that ticket. Without the store read
// A replayed nothing; without the alignment A numbered the stream from
// its own count (0), the store refused A's event, and B had nothing to
// replay.
func TestStandaloneStreamResumesOnAnotherReplica(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			reps := startReplicas(t, be.newOpen(t), clock, 2)
			a, b := reps[0], reps[1]
			ctx := t.Context()
			for _, id := range []string{"T-1", "T-2", "T-3"} {
				if _, _, err := a.bridge.ws.SaveTicket(ctx, "setup", workspace.TicketInput{ID: id, Customer: ptr("acme")}); err != nil {
					t.Fatal(err)
				}
			}
			// The first session subscribes to T-1 and T-2; the second,
			// whose stream on B is the witness, to T-3 as well.
			var ids []string
			for _, uris := range [][]string{{"ticket://T-1", "ticket://T-2"}, {"ticket://T-1", "ticket://T-2", "ticket://T-3"}} {
				cs := connectThrough(t, newRoundRobin(t, "alice", a))
				for _, uri := range uris {
					if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
						t.Fatalf("subscribe to %s: %v", uri, err)
					}
				}
				ids = append(ids, cs.ID())
			}
			id := ids[0]
			witness := updatesOn(t, sessionRequest(t, b, http.MethodGet, "alice", ids[1]))
			passed := func(uri string) {
				t.Helper()
				if got := nextUpdate(t, witness, "B (second session)"); got != uri {
					t.Fatalf("the second session's next update on B is %s, want %s", got, uri)
				}
			}

			var got []update
			streamB := sessionRequest(t, b, http.MethodGet, "alice", id)
			onB := updateEventsOn(t, streamB)
			saveTicket(t, a, id, "T-1")
			first := nextUpdateEvent(t, onB, "B")
			got = append(got, first)
			passed("ticket://T-1")
			streamB.Body.Close()
			// B goes on delivering, into the session's stream in the store.
			// T-3's update on the witness tells that B's feed has passed
			// the two changes before it, for both sessions.
			saveTicket(t, a, id, "T-2")
			saveTicket(t, a, id, "T-1")
			saveTicket(t, a, id, "T-3")
			passed("ticket://T-2")
			passed("ticket://T-1")
			passed("ticket://T-3")

			streamA := resumeStream(t, a, id, first.id)
			onA := updateEventsOn(t, streamA)
			got = append(got, nextUpdateEvent(t, onA, "A (replayed)"), nextUpdateEvent(t, onA, "A (replayed)"))
			saveTicket(t, b, id, "T-1")
			got = append(got, nextUpdateEvent(t, onA, "A"))
			passed("ticket://T-1")
			streamA.Body.Close()

			onB = updateEventsOn(t, resumeStream(t, b, id, got[2].id))
			got = append(got, nextUpdateEvent(t, onB, "B (replayed)"))
			saveTicket(t, a, id, "T-2")
			got = append(got, nextUpdateEvent(t, onB, "B"))
			want := []update{
				{"_0", "ticket://T-1"},                         // B, live
				{"_1", "ticket://T-2"}, {"_2", "ticket://T-1"}, // A, replaying B's
				{"_3", "ticket://T-1"}, // A, live
				{"_3", "ticket://T-1"}, // B, replaying A's
				{"_4", "ticket://T-2"}, // B, live
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(update{})); diff != "" {
				t.Errorf("updates on the stream as it moves B, A, B (-want +got):\n%s", diff)
			}
		})
	}
}

// The replica that opens a session is its deliverer from the start, named
// with the session's record; a GET stream that opens elsewhere takes the
// role, and one that opens on the first replica again takes it back.
func TestSessionOpenedHereIsDeliveredFromHere(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			reps := startReplicas(t, be.newOpen(t), clock, 2)
			a, b := reps[0], reps[1]
			ctx := t.Context()
			cs := connectThrough(t, newRoundRobin(t, "alice", a)) // no GET stream
			id := cs.ID()
			deliverer := func() string {
				t.Helper()
				got, err := storetest.Deliverer(ctx, a.bridge.subs.store, id)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			steps := []struct {
				name string
				get  *replica // where a GET stream opens, if any
				want *replica
			}{
				{"opened on A, no GET stream yet", nil, a},
				{"a GET stream on A", a, a},
				{"a GET stream on B", b, b},
				{"a GET stream on A again", a, a},
			}
			for _, s := range steps {
				if s.get != nil {
					resp := sessionRequest(t, s.get, http.MethodGet, "alice", id)
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("%s: HTTP %d", s.name, resp.StatusCode)
					}
					resp.Body.Close()
				}
				if got := deliverer(); got != s.want.bridge.subs.replica {
					t.Errorf("%s: deliverer %q, want %q", s.name, got, s.want.bridge.subs.replica)
				}
			}
		})
	}
}
