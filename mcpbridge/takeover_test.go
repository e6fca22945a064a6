package mcpbridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// takeoverClient speaks raw Streamable HTTP to one replica, as alice, in a
// session.
type takeoverClient struct {
	t       *testing.T
	url     string
	session string
}

func (c takeoverClient) do(ctx context.Context, method string, body any, header map[string]string) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", c.session)
	req.Header.Set("Authorization", "Bearer alice")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (c takeoverClient) resume(ctx context.Context, lastEventID string) *http.Response {
	return c.do(ctx, http.MethodGet, nil, map[string]string{"Last-Event-ID": lastEventID})
}

// sseEv is one server-sent event.
type sseEv struct {
	id   string
	data []byte
}

// readSSE reads the next event, skipping comments; io.EOF at the end.
func readSSE(r *bufio.Reader) (sseEv, error) {
	var e sseEv
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && seen {
				return e, nil
			}
			return e, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if seen {
				return e, nil
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			e.id, seen = value, true
		case "data":
			e.data, seen = append(e.data, value...), true
		case "event":
			seen = true
		}
	}
}

func splitEventID(t *testing.T, id string) (string, int) {
	t.Helper()
	stream, idx, ok := parseEventID(id)
	if !ok {
		t.Fatalf("event ID %q is not <stream>_<index>", id)
	}
	return stream, idx
}

// callStream posts a tools/call with a progress token and returns its
// stream's reader, checked to be a stream, after its priming event.
func callStream(t *testing.T, c takeoverClient, ctx context.Context, id int, tool string, args map[string]any) (*bufio.Reader, *http.Response, string) {
	t.Helper()
	resp := c.do(ctx, http.MethodPost, map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": map[string]any{
		"name": tool, "arguments": args, "_meta": map[string]any{"progressToken": "tok"},
	}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("tools/call %s: %s, %s: %s", tool, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	r := bufio.NewReader(resp.Body)
	prime, err := readSSE(r)
	if err != nil || len(prime.data) != 0 {
		t.Fatalf("first event = %+v, %v; want the priming event", prime, err)
	}
	stream, _ := splitEventID(t, prime.id)
	return r, resp, stream
}

// nextEvent reads the next event and describes it: "<index> progress <n>",
// "<index> result" or "<index> error: <message>".
func nextEvent(t *testing.T, r *bufio.Reader, stream string) (string, []byte) {
	t.Helper()
	e, err := readSSE(r)
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	s, idx := splitEventID(t, e.id)
	if s != stream {
		t.Fatalf("event %q is not of stream %s", e.id, stream)
	}
	var m struct {
		Method string `json:"method"`
		Params struct {
			Progress float64 `json:"progress"`
		} `json:"params"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(e.data, &m); err != nil {
		t.Fatalf("event %s: %s: %v", e.id, e.data, err)
	}
	switch {
	case m.Method == "notifications/progress":
		return fmt.Sprintf("%d progress %g", idx, m.Params.Progress), e.data
	case m.Error != nil:
		var msg struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(m.Error, &msg)
		return fmt.Sprintf("%d error: %s", idx, msg.Message), nil
	default:
		return fmt.Sprintf("%d result", idx), e.data
	}
}

// A client whose replica stopped resumes its stream on another replica:
// while the first replica is heard of, the second follows the stream as
// the first writes it; once it is not heard of for a lease, the second
// takes the call over, and a call that cannot go on ends with an error on
// the stream rather than silence.
func TestTakeoverFollowsThenEndsACallThatCannotGoOn(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			open := be.newOpen(t)
			start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
			// A's clock stands still: its heartbeats stay at start, and B,
			// whose clock moves, stops hearing of it.
			clockA, clockB := &sessionClock{now: start}, &sessionClock{now: start}
			a, runA := newReplica(t, open, clockA)
			b, runB := newReplica(t, open, clockB)
			runA()
			runB()
			<-a.bridge.sessions.tk.owning

			more, hold := make(chan struct{}), make(chan struct{})
			mcp.AddTool(a.bridge.server, &mcp.Tool{Name: "hold"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
				progress := func(n float64) {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: n})
				}
				progress(1)
				progress(2)
				<-more
				progress(3)
				<-hold // A is gone, as far as anyone can tell
				return &mcp.CallToolResult{}, struct{}{}, nil
			})
			id := connectThrough(t, newRoundRobin(t, "alice", a)).ID()
			// Before the session's DELETE, which waits for the call.
			t.Cleanup(sync.OnceFunc(func() { close(hold) }))
			callCtx, cut := context.WithCancel(t.Context())
			r, resp, stream := callStream(t, takeoverClient{t, a.url, id}, callCtx, 9, "hold", map[string]any{})
			var got []string
			for range 2 {
				e, _ := nextEvent(t, r, stream)
				got = append(got, e)
			}
			resp.Body.Close()
			cut()

			resumed := takeoverClient{t, b.url, id}.resume(t.Context(), stream+"_2")
			defer resumed.Body.Close()
			if resumed.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resumed.Body)
				t.Fatalf("resume on B: %s: %s", resumed.Status, body)
			}
			r = bufio.NewReader(resumed.Body)
			close(more) // A writes on; B follows
			e, _ := nextEvent(t, r, stream)
			got = append(got, e)
			clockB.Advance(time.Minute) // A not heard of for a lease
			e, _ = nextEvent(t, r, stream)
			got = append(got, e)
			if _, err := readSSE(r); err != io.EOF {
				t.Errorf("after the error: %v, want the stream's end", err)
			}
			want := []string{"1 progress 1", "2 progress 2", "3 progress 3",
				"4 error: the gateway replica running this call stopped before it finished: call again"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the stream's events (-want +got):\n%s", diff)
			}
		})
	}
}

// wait_for_ticket, whose replica stopped, goes on on the replica its client
// resumed on: every change is reported once, in order, across the two.
func TestTakeoverContinuesWaitForTicket(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			open := be.newOpen(t)
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			a, runA := newReplica(t, open, clock)
			b, runB := newReplica(t, open, clock)
			runA()
			runB()
			<-a.bridge.sessions.tk.owning

			id := connectThrough(t, newRoundRobin(t, "alice", a)).ID()
			save := func(n int, args string) {
				t.Helper()
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"save_ticket","arguments":{"ticket_id":"T-9",%s}}}`, 100+n, args)
				if status, out := sessionPost(t, b, "alice", id, body); status != http.StatusOK || strings.Contains(out, `"isError":true`) {
					t.Fatalf("save_ticket %s: HTTP %d: %s", args, status, out)
				}
			}
			save(0, `"customer":"Ada","summary":"refund"`)

			read := make(chan struct{})
			a.bridge.waitRead = func(string) { close(read) }
			callCtx, cut := context.WithCancel(t.Context())
			r, resp, stream := callStream(t, takeoverClient{t, a.url, id}, callCtx, 9, ToolWaitForTicket,
				map[string]any{"ticket_id": "T-9", "statuses": []string{"resolved"}, "timeout_seconds": 120})
			// A's copy of the call waits on, unheard; the session's DELETE at
			// the end would wait for it: the client cancels it first.
			t.Cleanup(func() {
				takeoverClient{t, a.url, id}.do(context.Background(), http.MethodPost,
					map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": map[string]any{"requestId": 9}}, nil)
			})
			<-read
			var got []string
			save(1, `"status":"triaged"`)
			e, _ := nextEvent(t, r, stream)
			got = append(got, e)
			save(2, `"category":"billing"`)
			e, _ = nextEvent(t, r, stream)
			got = append(got, e)
			resp.Body.Close()
			cut()
			a.stop() // A stops: its call hears of nothing more, and B may take it over at once

			resumed := takeoverClient{t, b.url, id}.resume(t.Context(), stream+"_2")
			defer resumed.Body.Close()
			if resumed.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(resumed.Body)
				t.Fatalf("resume on B: %s: %s", resumed.Status, body)
			}
			r = bufio.NewReader(resumed.Body)
			save(3, `"status":"resolved"`)
			e, _ = nextEvent(t, r, stream)
			got = append(got, e)
			e, m := nextEvent(t, r, stream)
			got = append(got, e)
			if _, err := readSSE(r); err != io.EOF {
				t.Errorf("after the result: %v, want the stream's end", err)
			}
			want := []string{"1 progress 1", "2 progress 2", "3 progress 3", "4 result"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the stream's events (-want +got):\n%s", diff)
			}
			var res struct {
				Result struct {
					StructuredContent waitOut `json:"structuredContent"`
				} `json:"result"`
			}
			if err := json.Unmarshal(m, &res); err != nil {
				t.Fatalf("result %s: %v", m, err)
			}
			if out := res.Result.StructuredContent; !out.Reached || out.Changes != 3 || out.Ticket.Status != "resolved" {
				t.Errorf("result: reached %v, changes %d, status %s; want reached, 3 changes, resolved", out.Reached, out.Changes, out.Ticket.Status)
			}
		})
	}
}

// gatedEvents is a store.Events whose WriteEvents waits for a gate: a test
// sees what is delivered before the store commits.
type gatedEvents struct {
	store.Events
	gate   chan struct{}
	mu     sync.Mutex
	writes []store.StreamEventWrite
}

func (g *gatedEvents) WriteEvents(ctx context.Context, w []store.StreamEventWrite) ([]store.StreamEventResult, error) {
	<-g.gate
	g.mu.Lock()
	g.writes = append(g.writes, w...)
	g.mu.Unlock()
	return g.Events.WriteEvents(ctx, w)
}

// With an owner (sessions on any replica), an event of a stored stream is
// handed back to go-sdk, which then delivers it, only once it is committed,
// and the stream's opening records its call and owner.
func TestEventStoreWithOwnerDeliversWhatIsStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := sqlite.Open(t.Context(), ":memory:", sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		g := &gatedEvents{Events: db, gate: make(chan struct{})}
		es := NewEventStore(g, EventStoreOptions{})
		es.setOwner("replica-a")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var running sync.WaitGroup
		running.Go(func() { _ = es.Run(ctx) })
		synctest.Wait() // Run's first sweep does not write events

		request := []byte(`{"jsonrpc":"2.0","id":9,"method":"tools/call"}`)
		if err := es.Open(withPostBody(t.Context(), request), "sess", "s1"); err != nil {
			t.Fatal(err)
		}
		appended := make(chan error, 1)
		go func() {
			appended <- es.Append(t.Context(), "sess", "s1", []byte(`{"jsonrpc":"2.0","method":"notifications/progress"}`))
		}()
		synctest.Wait()
		select {
		case err := <-appended:
			t.Fatalf("Append returned (%v) before its write was committed", err)
		default:
		}
		close(g.gate)
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
		var ops []string
		g.mu.Lock()
		for _, w := range g.writes {
			ops = append(ops, fmt.Sprintf("%d %s %s", w.Op, w.Owner, w.Data))
		}
		g.mu.Unlock()
		want := []string{
			fmt.Sprintf("%d  ", store.StreamOpen),
			fmt.Sprintf("%d replica-a %s", store.StreamCall, request),
			fmt.Sprintf("%d  {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}", store.StreamAppend),
		}
		if diff := cmp.Diff(want, ops); diff != "" {
			t.Errorf("writes (-want +got):\n%s", diff)
		}
		cancel()
		running.Wait()
	})
}
