package mcpbridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/postgres/pgtest"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// sessionBackends open instances of one database, as replicas share it: a
// SQLite file (one host), PostgreSQL (PARLEY_TEST_POSTGRES_URL).
var sessionBackends = []struct {
	name    string
	newOpen func(t *testing.T) func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "parley.db")
		return func(t *testing.T) store.Store {
			s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"postgres", func(t *testing.T) func(t *testing.T) store.Store {
		u := pgtest.NewSchema(t)
		return func(t *testing.T) store.Store {
			s, err := postgres.Open(t.Context(), u, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

// sessionClock is a clock the test moves by hand.
type sessionClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *sessionClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *sessionClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// replica is one gateway replica: a Bridge on its own store instance,
// behind bearer auth whose token is the user's name.
type replica struct {
	bridge *Bridge
	events *EventStore
	url    string
	// arrived, if set, is called as each request reaches the bridge.
	arrived atomic.Pointer[func()]
	// stop stops the replica's Run and its store's, as the app does on
	// shutdown; its HTTP server stays up.
	stop func()
}

const testSessionTimeout = 30 * time.Minute

func startReplicas(t *testing.T, open func(t *testing.T) store.Store, clock *sessionClock, n int) []*replica {
	t.Helper()
	var out []*replica
	for range n {
		r, run := newReplica(t, open, clock)
		run()
		out = append(out, r)
	}
	return out
}

// newReplica serves a replica at once; run starts its Run and the store's,
// as the app does.
func newReplica(t *testing.T, open func(t *testing.T) store.Store, clock *sessionClock) (r *replica, run func()) {
	t.Helper()
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		if token == "" || token == "bad" {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: token, Expiration: time.Now().Add(time.Hour)}, nil
	}
	st := open(t)
	ws := workspace.New(st, workspace.Options{})
	events := NewEventStore(st, EventStoreOptions{})
	// The replica's log, shown if the test fails.
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replica log:\n%s", logs.String())
		}
	})
	b, err := New(ws, st, Options{
		Logger:         slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		EventStore:     events,
		Sessions:       st,
		SessionTimeout: testSessionTimeout,
		StateKey:       []byte("shared by the replicas"),
		Now:            clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The feed learns of the other replicas' commits through the store's Run.
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	r = &replica{bridge: b, events: events}
	srv := httptest.NewServer(auth.RequireBearerToken(verify, nil)(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if f := r.arrived.Load(); f != nil {
			(*f)()
		}
		b.ServeHTTP(w, req)
	})))
	r.url = srv.URL
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		running.Wait()
	})
	run = sync.OnceFunc(func() {
		running.Go(func() { _ = b.Run(ctx) })
		running.Go(func() { _ = st.Run(ctx) })
	})
	r.stop = func() {
		cancel()
		running.Wait()
	}
	return r, run
}

// syncBuffer is a bytes.Buffer for several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// roundRobin is a load balancer without stickiness: each request goes to
// the next replica, with the user's token.
type roundRobin struct {
	targets []*url.URL
	token   string

	mu   sync.Mutex
	next int
	// served counts, by replica, the requests of a session (with
	// Mcp-Session-Id) that it answered with success.
	served []int
}

func newRoundRobin(t *testing.T, token string, replicas ...*replica) *roundRobin {
	rr := &roundRobin{token: token, served: make([]int, len(replicas))}
	for _, r := range replicas {
		u, err := url.Parse(r.url)
		if err != nil {
			t.Fatal(err)
		}
		rr.targets = append(rr.targets, u)
	}
	return rr
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	rr.mu.Lock()
	i := rr.next
	rr.next = (rr.next + 1) % len(rr.targets)
	rr.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = rr.targets[i].Scheme, rr.targets[i].Host
	req.Host = rr.targets[i].Host
	req.Header.Set("Authorization", "Bearer "+rr.token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && resp.StatusCode < 300 && req.Header.Get("Mcp-Session-Id") != "" {
		rr.mu.Lock()
		rr.served[i]++
		rr.mu.Unlock()
	}
	return resp, err
}

func (rr *roundRobin) counts() []int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]int(nil), rr.served...)
}

func connectThrough(t *testing.T, rt http.RoundTripper) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "balanced-host", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:   "http://balancer/mcp",
		HTTPClient: &http.Client{Transport: rt},
		// The GET stream would take a turn of the balancer at a time of
		// its own choosing; the calls are what this test follows.
		DisableStandaloneSSE: true,
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// sessionPost posts one JSON-RPC message of a session to a replica, as user
// (no Authorization header if ""), and returns the HTTP status and body.
func sessionPost(t *testing.T, r *replica, user, sessionID, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", sessionID)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}

const listTools = `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`

// A session opened on one replica is served by the other, request after
// request, through a balancer without stickiness: the second replica
// rebuilds it from the store under the same ID.
func TestSessionServedByAnyReplica(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			open := be.newOpen(t)
			reps := startReplicas(t, open, clock, 2)
			rr := newRoundRobin(t, "alice", reps...)
			cs := connectThrough(t, rr) // initialize on A, initialized on B
			if err := cs.SetLoggingLevel(t.Context(), &mcp.SetLoggingLevelParams{Level: "warning"}); err != nil {
				t.Fatalf("logging/setLevel: %v", err)
			}
			var saved struct {
				Version float64 `json:"version"`
			}
			call(t, cs, "save_ticket", map[string]any{"ticket_id": "T-1", "customer": "acme", "category": "billing"}, nil)
			call(t, cs, "get_ticket", map[string]any{"ticket_id": "T-1"}, &saved)
			for i := range 4 {
				var got struct {
					ID      string  `json:"id"`
					Version float64 `json:"version"`
					Summary string  `json:"summary"`
				}
				summary := fmt.Sprintf("turn %d", i)
				call(t, cs, "save_ticket", map[string]any{"ticket_id": "T-1", "summary": summary}, nil)
				call(t, cs, "get_ticket", map[string]any{"ticket_id": "T-1"}, &got)
				if got.ID != "T-1" || got.Summary != summary || got.Version != saved.Version+float64(i)+1 {
					t.Errorf("turn %d: get_ticket = %+v", i, got)
				}
			}
			for i, n := range rr.counts() {
				if n < 5 {
					t.Errorf("replica %d answered %d requests of the session, want at least 5 (%v)", i, n, rr.counts())
				}
			}
			rec, err := open(t).GetMCPSession(t.Context(), cs.ID())
			if err != nil {
				t.Fatalf("the session in the store: %v", err)
			}
			want := store.MCPSession{ID: cs.ID(), ProtocolVersion: "2025-11-25", LogLevel: "warning", UserID: "alice",
				CreatedAt: clock.Now(), LastActive: clock.Now()}
			if diff := cmp.Diff(want, rec, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "InitializeParams" }, cmp.Ignore())); diff != "" {
				t.Errorf("stored session (-want +got):\n%s", diff)
			}
			if !strings.Contains(string(rec.InitializeParams), `"balanced-host"`) {
				t.Errorf("stored initialize params %s do not name the client", rec.InitializeParams)
			}

			// Ending the session on one replica ends it on the others (the
			// one that never held it finds it nowhere).
			if err := cs.Close(); err != nil {
				t.Fatalf("close (DELETE): %v", err)
			}
			if _, err := open(t).GetMCPSession(t.Context(), cs.ID()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("stored session after DELETE: %v, want not found", err)
			}
		})
	}
}

// A rebuild checks the session's user as go-sdk does for the sessions it
// holds; a session known nowhere is 404 everywhere; requests racing to a
// replica that does not hold their session all get it.
func TestSessionRebuildRules(t *testing.T) {
	clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	reps := startReplicas(t, sessionBackends[0].newOpen(t), clock, 3)
	a, b, c := reps[0], reps[1], reps[2]
	cs := connectThrough(t, newRoundRobin(t, "alice", a))
	id := cs.ID()

	tests := []struct {
		name       string
		to         *replica
		user, id   string
		wantStatus int
	}{
		{"another user on a replica that does not hold it", b, "bob", id, http.StatusForbidden},
		{"another user on the replica that holds it", a, "bob", id, http.StatusForbidden},
		{"unknown session", b, "alice", "no-such-session", http.StatusNotFound},
		{"unknown session on the opener", a, "alice", "no-such-session", http.StatusNotFound},
		{"its user on a replica that does not hold it", b, "alice", id, http.StatusOK},
		{"its user again, now held", b, "alice", id, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := sessionPost(t, tt.to, tt.user, tt.id, listTools)
			if status != tt.wantStatus {
				t.Fatalf("HTTP %d (%s), want %d", status, body, tt.wantStatus)
			}
			if status == http.StatusOK && !strings.Contains(body, `"get_ticket"`) {
				t.Errorf("tools/list = %s", body)
			}
		})
	}

	// Concurrent first requests on a replica that does not hold the
	// session: one rebuild, every request served.
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, body := sessionPost(t, c, "alice", id, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, i))
			if status != http.StatusOK || !strings.Contains(body, `"get_ticket"`) {
				errs <- fmt.Errorf("request %d: HTTP %d: %s", i, status, body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// An idle session expires after the session timeout: swept from the store,
// and not rebuilt once past it even before the sweep. Activity anywhere
// keeps it.
func TestSessionExpiry(t *testing.T) {
	clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	open := sessionBackends[0].newOpen(t)
	reps := startReplicas(t, open, clock, 3)
	a, b, c := reps[0], reps[1], reps[2]
	d := a.bridge.sessions
	idle := testSessionTimeout + d.touchEvery // when a session counts as expired

	kept := connectThrough(t, newRoundRobin(t, "alice", a))
	expired := connectThrough(t, newRoundRobin(t, "alice", a))

	// Activity of kept, on another replica, just before expiry.
	clock.Advance(idle - time.Second)
	if status, body := sessionPost(t, b, "alice", kept.ID(), listTools); status != http.StatusOK {
		t.Fatalf("kept session on B: HTTP %d: %s", status, body)
	}
	clock.Advance(2 * time.Second)
	// Past the timeout and not yet swept: not rebuilt.
	if status, body := sessionPost(t, c, "alice", expired.ID(), listTools); status != http.StatusNotFound {
		t.Errorf("expired session on C before the sweep: HTTP %d (%s), want 404", status, body)
	}
	n, err := d.sweep(t.Context())
	if err != nil || n != 1 {
		t.Errorf("sweep = %d, %v; want 1", n, err)
	}
	st := open(t)
	if _, err := st.GetMCPSession(t.Context(), expired.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session after the sweep: %v, want not found", err)
	}
	if _, err := st.GetMCPSession(t.Context(), kept.ID()); err != nil {
		t.Errorf("kept session after the sweep: %v", err)
	}
	if status, body := sessionPost(t, c, "alice", kept.ID(), listTools); status != http.StatusOK {
		t.Errorf("kept session on C after the sweep: HTTP %d: %s", status, body)
	}
}

// streamEvents reads a stream through a fresh event store on open, as a
// third replica would, and returns its events with data.
func streamEvents(t *testing.T, open func(t *testing.T) store.Store, session, stream string) ([]string, error) {
	t.Helper()
	var out []string
	for data, err := range NewEventStore(open(t), EventStoreOptions{}).After(t.Context(), session, stream, -1) {
		if err != nil {
			return out, err
		}
		if len(data) > 0 {
			out = append(out, string(data))
		}
	}
	return out, nil
}

// A replica's copy of a session closing (go-sdk's idle timer) is not the
// end of the session: the streams another replica writes stay. The
// session's end (DELETE) deletes them.
func TestSessionStreamsOutliveAReplicasCopy(t *testing.T) {
	clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	open := sessionBackends[0].newOpen(t)
	reps := startReplicas(t, open, clock, 2)
	a, b := reps[0], reps[1]
	cs := connectThrough(t, newRoundRobin(t, "alice", a, b))
	id, ctx := cs.ID(), t.Context()

	// A and B each write a stream of the session, as for calls that
	// report progress.
	progress := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`
	for _, w := range []struct {
		es     *EventStore
		stream string
	}{{a.events, "s0"}, {b.events, "s1"}} {
		if err := w.es.Open(ctx, id, w.stream); err != nil {
			t.Fatal(err)
		}
		for _, data := range [][]byte{nil, []byte(progress)} {
			if err := w.es.Append(ctx, id, w.stream, data); err != nil {
				t.Fatalf("append to %s: %v", w.stream, err)
			}
		}
	}
	// A's copy closes: go-sdk tells the handler's event store.
	if err := a.bridge.sessions.handlerEvents.SessionClosed(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, err := streamEvents(t, open, id, "s1")
	if err != nil {
		t.Fatalf("the stream after A's copy closed: %v", err)
	}
	if diff := cmp.Diff([]string{progress}, got); diff != "" {
		t.Errorf("the stream after A's copy closed (-want +got):\n%s", diff)
	}

	if err := cs.Close(); err != nil { // DELETE, on either replica
		t.Fatal(err)
	}
	for _, stream := range []string{"s0", "s1"} {
		if got, err := streamEvents(t, open, id, stream); err == nil && len(got) > 0 {
			t.Errorf("stream %s after the session's DELETE = %v, want it gone", stream, got)
		}
	}
}

// sessionRequest sends a request of a session without body (GET, DELETE) to
// a replica, as user, and returns the response once its headers arrived.
func sessionRequest(t *testing.T, r *replica, method, user, sessionID string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", sessionID)
	req.Header.Set("Authorization", "Bearer "+user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// A session ended by DELETE on one replica ends on every replica: the
// other replica's copy of it is closed through the change feed, so the GET
// stream open on it ends and a request of it there is 404, at once rather
// than at the copy's idle timeout.
func TestSessionDeleteClosesEveryCopy(t *testing.T) {
	tests := []struct {
		name               string
		deleteOn, streamOn int // replica 0 opened the session, 1 rebuilt it
	}{
		{"deleted on the opener, stream on the rebuilder", 0, 1},
		{"deleted on the rebuilder, stream on the opener", 1, 0},
	}
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			reps := startReplicas(t, be.newOpen(t), clock, 2)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					id := connectThrough(t, newRoundRobin(t, "alice", reps[0])).ID()
					if status, body := sessionPost(t, reps[1], "alice", id, listTools); status != http.StatusOK {
						t.Fatalf("the session on replica 1 (rebuilt): HTTP %d: %s", status, body)
					}
					stream := sessionRequest(t, reps[tt.streamOn], http.MethodGet, "alice", id)
					if stream.StatusCode != http.StatusOK {
						t.Fatalf("GET stream on replica %d: HTTP %d", tt.streamOn, stream.StatusCode)
					}
					streamEnded := make(chan error, 1)
					go func() {
						_, err := io.Copy(io.Discard, stream.Body)
						streamEnded <- err
					}()

					if resp := sessionRequest(t, reps[tt.deleteOn], http.MethodDelete, "alice", id); resp.StatusCode != http.StatusNoContent {
						t.Fatalf("DELETE on replica %d: HTTP %d", tt.deleteOn, resp.StatusCode)
					}
					select {
					case err := <-streamEnded:
						if err != nil {
							t.Errorf("the GET stream on replica %d ended with %v, want its end", tt.streamOn, err)
						}
					case <-time.After(30 * time.Second):
						t.Fatalf("the GET stream on replica %d is still open 30s after the session's DELETE on replica %d", tt.streamOn, tt.deleteOn)
					}
					var got []int
					for _, r := range reps {
						status, _ := sessionPost(t, r, "alice", id, listTools)
						got = append(got, status)
					}
					if diff := cmp.Diff([]int{http.StatusNotFound, http.StatusNotFound}, got); diff != "" {
						t.Errorf("a request of the ended session, by replica (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// A replica's copy of an ended session refuses requests from the moment it
// starts closing. go-sdk forgets a closing copy only once its calls in
// flight have returned and its streams have ended; a request of the copy
// arriving before that was served by a session that no longer exists (the
// stream's end is a signal a client sees first: CI once had a request
// answered 200 just after it). A call held in flight keeps that window
// open here.
func TestSessionClosingCopyRefusesRequests(t *testing.T) {
	be := sessionBackends[0] // the window is the bridge's, not the store's
	clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	reps := startReplicas(t, be.newOpen(t), clock, 2)
	entered, release := make(chan struct{}), make(chan struct{})
	mcp.AddTool(reps[1].bridge.server, &mcp.Tool{Name: "hold"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		close(entered)
		<-release // a long call: closing the copy waits for it
		return &mcp.CallToolResult{}, struct{}{}, nil
	})
	released := sync.OnceFunc(func() { close(release) })
	t.Cleanup(released)

	id := connectThrough(t, newRoundRobin(t, "alice", reps[0])).ID()
	stream := sessionRequest(t, reps[1], http.MethodGet, "alice", id) // rebuilds the session on replica 1
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("GET stream on replica 1: HTTP %d", stream.StatusCode)
	}
	streamEnded := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stream.Body)
		close(streamEnded)
	}()
	callDone := make(chan int, 1)
	go func() {
		status, _ := sessionPost(t, reps[1], "alice", id, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"hold","arguments":{}}}`)
		callDone <- status
	}()
	<-entered

	if resp := sessionRequest(t, reps[0], http.MethodDelete, "alice", id); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE on replica 0: HTTP %d", resp.StatusCode)
	}
	// Replica 1 hears of the DELETE through the change feed; until then its
	// copy serves. Once it has, the copy refuses, its call still in flight.
	// (Without the refusal, such a request is left unanswered: each try
	// gets a second.)
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, reps[1].url, strings.NewReader(listTools))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		req.Header.Set("Mcp-Session-Id", id)
		req.Header.Set("Authorization", "Bearer alice")
		var last string
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				cancel()
				break
			}
			last = fmt.Sprintf("HTTP %d: %s (%v)", resp.StatusCode, strings.TrimSpace(string(body)), rerr)
		} else {
			last = err.Error()
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("a request of the ended session on replica 1, its call in flight, is not refused 30s after the DELETE: %s", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-streamEnded:
		t.Error("the GET stream on replica 1 ended while the copy's call was in flight, as go-sdk's own close does not")
	default:
	}
	released()
	if status := <-callDone; status != http.StatusOK {
		t.Errorf("the call in flight when its session ended: HTTP %d, want its answer", status)
	}
	<-streamEnded
	if status, _ := sessionPost(t, reps[1], "alice", id, listTools); status != http.StatusNotFound {
		t.Errorf("a request of the ended session on replica 1, once closed: HTTP %d, want 404", status)
	}
}

// A replica rebuilds a session only once it follows the change feed: one
// that made its copy before would miss the change that ends the session,
// and keep serving it (CI once saw such a copy's GET stream outlive the
// session's DELETE). Here a request reaches a replica not yet following,
// the session ends on another, and only then does the replica follow: the
// request must find the session ended.
func TestSessionRebuildWaitsToFollowTheFeed(t *testing.T) {
	be := sessionBackends[0]
	clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	open := be.newOpen(t)
	opener := startReplicas(t, open, clock, 1)[0]
	late, run := newReplica(t, open, clock)
	id := connectThrough(t, newRoundRobin(t, "alice", opener)).ID()

	arrived := make(chan struct{})
	signal := sync.OnceFunc(func() { close(arrived) })
	late.arrived.Store(&signal)
	answered := make(chan int, 1)
	go func() {
		status, _ := sessionPost(t, late, "alice", id, listTools)
		answered <- status
	}()
	<-arrived
	if resp := sessionRequest(t, opener, http.MethodDelete, "alice", id); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE on the opener: HTTP %d", resp.StatusCode)
	}
	run()
	if status := <-answered; status != http.StatusNotFound {
		t.Fatalf("a request of a session that ended while its replica was starting: HTTP %d, want 404", status)
	}
}

// A log level the client sets on one replica reaches the other replicas'
// copies of its session (go-sdk filters a copy's log messages by it), not
// only the ones rebuilt later.
func TestSessionLevelReachesEveryCopy(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			reps := startReplicas(t, be.newOpen(t), clock, 2)
			id := connectThrough(t, newRoundRobin(t, "alice", reps[0])).ID()
			if status, body := sessionPost(t, reps[1], "alice", id, listTools); status != http.StatusOK {
				t.Fatalf("the session on replica 1 (rebuilt): HTTP %d: %s", status, body)
			}
			stream := sessionRequest(t, reps[1], http.MethodGet, "alice", id)
			if stream.StatusCode != http.StatusOK {
				t.Fatalf("GET stream on replica 1: HTTP %d", stream.StatusCode)
			}
			logged := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(stream.Body)
				for sc.Scan() {
					var msg struct {
						Method string `json:"method"`
						Params struct {
							Level string `json:"level"`
							Data  string `json:"data"`
						} `json:"params"`
					}
					if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok && json.Unmarshal([]byte(data), &msg) == nil && msg.Method == "notifications/message" {
						logged <- msg.Params.Level + " " + msg.Params.Data
					}
				}
			}()
			copyOnB := func() *mcp.ServerSession {
				for ss := range reps[1].bridge.server.Sessions() {
					if ss.ID() == id {
						return ss
					}
				}
				t.Fatal("replica 1 holds no copy of the session")
				return nil
			}()

			if status, body := sessionPost(t, reps[0], "alice", id, `{"jsonrpc":"2.0","id":5,"method":"logging/setLevel","params":{"level":"info"}}`); status != http.StatusOK {
				t.Fatalf("logging/setLevel on replica 0: HTTP %d: %s", status, body)
			}
			// Until the level reaches replica 1's copy, it sends no log
			// message at all (no level set).
			for deadline := time.Now().Add(10 * time.Second); ; {
				if err := copyOnB.Log(t.Context(), &mcp.LoggingMessageParams{Level: "info", Data: "probe"}); err != nil {
					t.Fatal(err)
				}
				select {
				case got := <-logged:
					if got != "info probe" {
						t.Fatalf("log message on replica 1 = %q, want the info probe", got)
					}
				case <-time.After(50 * time.Millisecond):
					if time.Now().After(deadline) {
						t.Fatal("the level set on replica 0 did not reach replica 1's copy within 10s")
					}
					continue
				}
				break
			}
			// At info: a debug message is dropped, an error one sent.
			for _, level := range []mcp.LoggingLevel{"debug", "error"} {
				if err := copyOnB.Log(t.Context(), &mcp.LoggingMessageParams{Level: level, Data: "after"}); err != nil {
					t.Fatal(err)
				}
			}
			for got := range logged {
				if got == "info probe" {
					continue // a probe sent before the first one arrived
				}
				if got != "error after" {
					t.Errorf("the next log message on replica 1 = %q, want the error one (debug is below info)", got)
				}
				break
			}
		})
	}
}

// Session IDs sort by when they were made (the store's indexes take new
// sessions at their end) and stay unguessable: 130 random bits after the
// time.
func TestNewSessionID(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	id := newSessionID(at)
	if !regexp.MustCompile(`^[0-9a-f]{12}[A-Z2-7]{26}$`).MatchString(id) {
		t.Fatalf("newSessionID = %q, want 12 hex digits of time, then 26 base32 random characters", id)
	}
	if again := newSessionID(at); again == id {
		t.Errorf("two IDs made at the same time are the same: %q", id)
	}
	if later := newSessionID(at.Add(time.Millisecond)); later <= id {
		t.Errorf("an ID made a millisecond later, %q, sorts before %q", later, id)
	}
}

// A session that ends leaves nothing of itself in the event store's memory
// when none of its streams was written (each ended with its response): the
// stateful handler's SessionClosed does not reach the event store with
// sessions in the store (replicaEvents), and every session opened used to
// stay in memory until the age sweep, an hour by default.
func TestEndedSessionLeavesNoEventState(t *testing.T) {
	clock := &sessionClock{now: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	r := startReplicas(t, sessionBackends[0].newOpen(t), clock, 1)[0]
	held := func() int {
		r.events.mu.Lock()
		defer r.events.mu.Unlock()
		return len(r.events.sessions)
	}
	for i := range 5 {
		c := mcp.NewClient(&mcp.Implementation{Name: "short-lived", Version: "1"}, nil)
		cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
			Endpoint:   r.url,
			HTTPClient: &http.Client{Transport: newRoundRobin(t, "alice", r)},
		}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("session %d: connect: %v", i, err)
		}
		if _, err := cs.ListTools(t.Context(), nil); err != nil {
			t.Fatalf("session %d: tools/list: %v", i, err)
		}
		if n := held(); n == 0 {
			t.Fatalf("session %d: the event store holds no session while one is open: the test sees nothing", i)
		}
		if err := cs.Close(); err != nil {
			t.Fatalf("session %d: close: %v", i, err)
		}
	}
	if n := held(); n != 0 {
		t.Errorf("the event store still holds %d sessions in memory after all 5 ended", n)
	}
}
