package mcpbridge_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/postgres/pgtest"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// The event store's tests run on a real SQLite file and on PostgreSQL
// (pgtest: skipped without PARLEY_TEST_POSTGRES_URL, failed in CI). Helpers
// are prefixed es so as not to collide with the package's other tests.

// esBackend opens store instances on one fresh database: calling open twice
// gives two instances sharing the data, as a restarted gateway or a second
// replica would see it.
type esBackend struct {
	name    string
	newOpen func(t *testing.T) (open func(t *testing.T) store.Store)
}

var esBackends = []esBackend{{"sqlite", esSQLite}, {"postgres", esPostgres}}

func esSQLite(t *testing.T) func(t *testing.T) store.Store {
	path := filepath.Join(t.TempDir(), "parley.db")
	return func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// esPostgres makes a fresh schema in the test database, dropped afterwards.
func esPostgres(t *testing.T) func(t *testing.T) store.Store {
	u := pgtest.NewSchema(t)
	return func(t *testing.T) store.Store {
		s, err := postgres.Open(t.Context(), u, postgres.Options{})
		if err != nil {
			t.Fatalf("open PostgreSQL store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// esClock is a clock the test moves by hand.
type esClock struct {
	mu  sync.Mutex
	now time.Time
}

func newESClock() *esClock {
	return &esClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
}

func (c *esClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *esClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// esCollect drains After into strings ("" for a marker event).
func esCollect(ctx context.Context, es mcp.EventStore, session, stream string, index int) ([]string, error) {
	var out []string
	for data, err := range es.After(ctx, session, stream, index) {
		if err != nil {
			return out, err
		}
		out = append(out, string(data))
	}
	return out, nil
}

func esMust(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestEventStoreAppendAfter(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			open := b.newOpen(t)
			es := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{Now: newESClock().Now})
			esMust(t, "Open", es.Open(ctx, "sess", "s1"))
			esMust(t, "Open standalone", es.Open(ctx, "sess", ""))
			// The priming event has no data and takes index 0.
			for _, d := range [][]byte{nil, []byte(`{"n":1}`), []byte(`{"n":2}`), []byte(`{"n":3}`)} {
				esMust(t, "Append", es.Append(ctx, "sess", "s1", d))
			}
			esMust(t, "Append standalone", es.Append(ctx, "sess", "", []byte(`{"standalone":true}`)))
			// A second instance on the same database (a restarted gateway,
			// or another replica) replays the same events.
			other := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
			tests := []struct {
				name   string
				stream string
				after  int
				want   string
			}{
				{"all", "s1", -1, `[ {"n":1} {"n":2} {"n":3}]`},
				{"after priming", "s1", 0, `[{"n":1} {"n":2} {"n":3}]`},
				{"middle", "s1", 2, `[{"n":3}]`},
				{"after last", "s1", 3, `[]`},
				{"beyond last", "s1", 99, `[]`},
				{"standalone", "", -1, `[{"standalone":true}]`},
			}
			for _, tt := range tests {
				for name, s := range map[string]*mcpbridge.EventStore{"same": es, "other": other} {
					got, err := esCollect(ctx, s, "sess", tt.stream, tt.after)
					if err != nil || fmt.Sprint(got) != tt.want {
						t.Errorf("%s instance: %s: After(%q, %d) = %q, %v; want %s", name, tt.name, tt.stream, tt.after, got, err, tt.want)
					}
				}
			}
			// Stopping early is allowed.
			for data, err := range es.After(ctx, "sess", "s1", 0) {
				if err != nil || string(data) != `{"n":1}` {
					t.Errorf("first event = %s, %v", data, err)
				}
				break
			}
			// A stream never opened is an error, not an empty replay.
			if got, err := esCollect(ctx, es, "sess", "never", -1); err == nil || !errors.Is(err, store.ErrNotFound) || errors.Is(err, mcp.ErrEventsPurged) {
				t.Errorf("After of an unknown stream = %q, %v; want ErrNotFound", got, err)
			}
		})
	}
}

// TestEventStorePagesAndPurges replays more events than one store page, and
// refuses to replay from before what the per-stream cap dropped.
func TestEventStorePagesAndPurges(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			st := b.newOpen(t)(t)
			const n = 1234
			tests := []struct {
				name  string
				keep  int
				after int
				want  int // number of events replayed; -1 for ErrEventsPurged
			}{
				{"unbounded all", -1, -1, n},
				{"unbounded tail", -1, 700, n - 701},
				{"capped all", 600, -1, -1},
				{"capped from before kept", 600, n - 602, -1},
				{"capped from first kept", 600, n - 601, 600},
				{"capped tail", 600, n - 11, 10},
			}
			streams := map[int]string{}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					es := mcpbridge.NewEventStore(st, mcpbridge.EventStoreOptions{KeepPerStream: tt.keep})
					stream, ok := streams[tt.keep]
					if !ok {
						stream = fmt.Sprintf("keep%d", tt.keep)
						streams[tt.keep] = stream
						esMust(t, "Open", es.Open(ctx, "sess", stream))
						for i := range n {
							esMust(t, "Append", es.Append(ctx, "sess", stream, []byte(strconv.Itoa(i))))
						}
					}
					got, err := esCollect(ctx, es, "sess", stream, tt.after)
					if tt.want < 0 {
						if !errors.Is(err, mcp.ErrEventsPurged) || !errors.Is(err, store.ErrEventsPurged) || len(got) != 0 {
							t.Fatalf("After(%d) = %d events, %v; want only an error matching mcp.ErrEventsPurged", tt.after, len(got), err)
						}
						return
					}
					if err != nil || len(got) != tt.want {
						t.Fatalf("After(%d) = %d events, %v; want %d", tt.after, len(got), err, tt.want)
					}
					for i, d := range got {
						if want := strconv.Itoa(tt.after + 1 + i); d != want {
							t.Fatalf("event %d = %s, want %s", i, d, want)
						}
					}
				})
			}
		})
	}
}

func TestEventStoreSessionClosedAndSweep(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			clock := newESClock()
			es := mcpbridge.NewEventStore(b.newOpen(t)(t), mcpbridge.EventStoreOptions{Now: clock.Now, MaxAge: time.Hour})
			esMust(t, "Open closing", es.Open(ctx, "closing", "s"))
			esMust(t, "Open old", es.Open(ctx, "old", "s"))
			esMust(t, "Append old", es.Append(ctx, "old", "s", []byte("x")))
			clock.Advance(40 * time.Minute)
			esMust(t, "Open young", es.Open(ctx, "young", "s"))
			esMust(t, "SessionClosed", es.SessionClosed(ctx, "closing"))
			esMust(t, "SessionClosed twice", es.SessionClosed(ctx, "closing"))
			clock.Advance(40 * time.Minute) // old: 80m idle, young: 40m
			n, err := es.Sweep(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want 1", n, err)
			}
			for _, session := range []string{"closing", "old"} {
				if _, err := esCollect(ctx, es, session, "s", -1); err == nil {
					t.Errorf("session %s: After succeeded after its stream was deleted", session)
				}
			}
			// Appending to a deleted stream fails rather than restarting
			// its indices behind the SDK's back.
			if err := es.Append(ctx, "old", "s", []byte("y")); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Append to a swept stream: %v, want ErrNotFound", err)
			}
			if _, err := esCollect(ctx, es, "young", "s", -1); err != nil {
				t.Errorf("young stream swept too early: %v", err)
			}

			// Run sweeps at once, then every SweepEvery, until its context ends.
			clock.Advance(2 * time.Hour)
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- es.Run(runCtx) }()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := esCollect(ctx, es, "young", "s", -1); errors.Is(err, store.ErrNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Run did not sweep the idle stream")
				}
				time.Sleep(5 * time.Millisecond) // polling for Run's first sweep
			}
			stop()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil after its context ended", err)
			}
		})
	}
}

// An Append whose caller was cancelled is still stored: the SDK delivers the
// event live either way, and counts it.
func TestEventStoreAppendOutlivesCancellation(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			es := mcpbridge.NewEventStore(b.newOpen(t)(t), mcpbridge.EventStoreOptions{})
			esMust(t, "Open", es.Open(t.Context(), "sess", "s"))
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			esMust(t, "Append with a cancelled context", es.Append(cancelled, "sess", "s", []byte("kept")))
			if got, err := esCollect(t.Context(), es, "sess", "s", -1); err != nil || fmt.Sprint(got) != "[kept]" {
				t.Errorf("After = %q, %v; want [kept]", got, err)
			}
		})
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id string
	data     []byte
}

// readSSE reads the next event from r, skipping comments; io.EOF at the end.
func readSSE(r *bufio.Reader) (sseEvent, error) {
	var e sseEvent
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
		case "": // a comment
			continue
		case "event":
			e.name = value
		case "id":
			e.id = value
		case "data":
			if e.data != nil {
				e.data = append(e.data, '\n')
			}
			e.data = append(e.data, value...)
		}
		seen = true
	}
}

// esMessage is the part of a JSON-RPC message the test looks at.
type esMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Progress float64 `json:"progress"`
		Message  string  `json:"message"`
	} `json:"params"`
	Result struct {
		StructuredContent struct {
			Steps int `json:"steps"`
		} `json:"structuredContent"`
	} `json:"result"`
	Error json.RawMessage `json:"error"`
}

// esClient speaks MCP Streamable HTTP (2025-11-25, the session generation
// that has resumable streams) by hand, so that the test decides exactly
// where a stream breaks.
type esClient struct {
	t       *testing.T
	url     string
	http    *http.Client
	session string
}

func (c *esClient) do(ctx context.Context, method string, body any, header map[string]string) *http.Response {
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
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return resp
}

func (c *esClient) initialize(ctx context.Context) {
	c.t.Helper()
	resp := c.do(ctx, http.MethodPost, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "es-test", "version": "0"},
	}}, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"protocolVersion":"2025-11-25"`)) {
		c.t.Fatalf("initialize: %s: %s", resp.Status, body)
	}
	c.session = resp.Header.Get("Mcp-Session-Id")
	if c.session == "" {
		c.t.Fatal("initialize: no Mcp-Session-Id")
	}
	resp = c.do(ctx, http.MethodPost, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("notifications/initialized: %s", resp.Status)
	}
}

// resume sends the GET that resumes a stream after lastEventID. The SDK
// answers 409 while it still holds the broken request's claim on the
// stream (it has not yet noticed the disconnect), so it retries that, as a
// real client's reconnect does.
func (c *esClient) resume(ctx context.Context, lastEventID string) *http.Response {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := c.do(ctx, http.MethodGet, nil, map[string]string{"Last-Event-ID": lastEventID})
		if resp.StatusCode != http.StatusConflict || time.Now().After(deadline) {
			return resp
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(10 * time.Millisecond) // reconnect backoff
	}
}

// splitEventID splits an SDK event ID, "<stream>_<index>".
func splitEventID(t *testing.T, id string) (string, int) {
	t.Helper()
	stream, idx, ok := strings.Cut(id, "_")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil {
		t.Fatalf("event ID %q is not <stream>_<index>", id)
	}
	return stream, n
}

// TestEventStoreResumesStreamOverHTTP runs the adapter under a real go-sdk
// Streamable HTTP handler: a tool sends progress notifications, the client's
// stream is cut part way, and a GET with Last-Event-ID gets every event the
// client missed, exactly once and in order, whether the tool is still
// running (replay, then live) or has finished (replay only).
func TestEventStoreResumesStreamOverHTTP(t *testing.T) {
	const steps, gateAfter, readBeforeCut = 8, 5, 3
	tests := []struct {
		name string
		// finishBeforeResume lets the tool run to the end while no client
		// is connected; otherwise it waits until the stream was resumed.
		finishBeforeResume bool
	}{
		{"tool still running", false},
		{"tool finished while disconnected", true},
	}
	for _, b := range esBackends {
		for _, tt := range tests {
			// With Run's flusher (as the gateway runs it) and without
			// (every write synchronous).
			for _, flusher := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/flusher=%v", b.name, tt.name, flusher), func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					defer cancel()
					open := b.newOpen(t)
					es := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{Now: newESClock().Now, KeepPerStream: 100})
					if flusher {
						esRun(t, es)
					}

					gate, finished := make(chan struct{}), make(chan struct{})
					server := mcp.NewServer(&mcp.Implementation{Name: "es-test", Version: "0"}, nil)
					type countOut struct {
						Steps int `json:"steps"`
					}
					mcp.AddTool(server, &mcp.Tool{Name: "count", Description: "counts to 8 with progress"},
						func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, countOut, error) {
							defer close(finished)
							for i := 1; i <= steps; i++ {
								if i == gateAfter+1 {
									select {
									case <-gate:
									case <-ctx.Done():
										return nil, countOut{}, ctx.Err()
									}
								}
								if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
									ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: steps, Message: fmt.Sprintf("step %d", i),
								}); err != nil {
									return nil, countOut{}, err
								}
							}
							return nil, countOut{Steps: steps}, nil
						})
					handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
						&mcp.StreamableHTTPOptions{EventStore: es})
					srv := httptest.NewServer(handler) // 127.0.0.1
					defer srv.Close()
					c := &esClient{t: t, url: srv.URL, http: srv.Client()}
					c.initialize(ctx)

					// Call the tool and read the priming event and the first
					// progress notifications, then break the stream.
					callCtx, cut := context.WithCancel(ctx)
					resp := c.do(callCtx, http.MethodPost, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{
						"name": "count", "arguments": map[string]any{}, "_meta": map[string]any{"progressToken": "tok"},
					}}, nil)
					if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
						t.Fatalf("tools/call: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
					}
					r := bufio.NewReader(resp.Body)
					prime, err := readSSE(r)
					if err != nil || prime.name != "prime" || len(prime.data) != 0 {
						t.Fatalf("first event = %+v, %v; want the priming event", prime, err)
					}
					stream, idx := splitEventID(t, prime.id)
					if idx != 0 {
						t.Fatalf("priming event ID %q, want index 0", prime.id)
					}
					lastID := prime.id
					for i := 1; i <= readBeforeCut; i++ {
						e, err := readSSE(r)
						if err != nil {
							t.Fatalf("progress %d: %v", i, err)
						}
						var m esMessage
						if err := json.Unmarshal(e.data, &m); err != nil || m.Method != "notifications/progress" || m.Params.Progress != float64(i) {
							t.Fatalf("event %d = %s (%v), want progress %d", i, e.data, err, i)
						}
						if e.id != fmt.Sprintf("%s_%d", stream, i) {
							t.Fatalf("event %d ID = %q", i, e.id)
						}
						lastID = e.id
					}
					resp.Body.Close()
					cut()

					if tt.finishBeforeResume {
						close(gate)
						select {
						case <-finished:
						case <-ctx.Done():
							t.Fatal("the tool did not finish")
						}
					}

					resp = c.resume(ctx, lastID)
					defer resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						body, _ := io.ReadAll(resp.Body)
						t.Fatalf("resume after %s: %s: %s", lastID, resp.Status, body)
					}
					r = bufio.NewReader(resp.Body)
					var got []string
					next := readBeforeCut + 1
					for {
						e, err := readSSE(r)
						if err == io.EOF {
							break
						}
						if err != nil {
							t.Fatalf("resumed stream: %v", err)
						}
						if e.id != fmt.Sprintf("%s_%d", stream, next) {
							t.Fatalf("resumed event ID = %q, want %s_%d (events so far %q)", e.id, stream, next, got)
						}
						next++
						var m esMessage
						if err := json.Unmarshal(e.data, &m); err != nil {
							t.Fatalf("resumed event %s: %v", e.data, err)
						}
						switch {
						case m.Method == "notifications/progress":
							got = append(got, m.Params.Message)
							if int(m.Params.Progress) == gateAfter && !tt.finishBeforeResume {
								// Everything before the gate was replayed or
								// sent on the resumed stream: let the tool go on,
								// live.
								close(gate)
							}
						case string(m.ID) == "2":
							if m.Error != nil || m.Result.StructuredContent.Steps != steps {
								t.Fatalf("tool result = %s", e.data)
							}
							got = append(got, "result")
						default:
							t.Fatalf("unexpected message on the resumed stream: %s", e.data)
						}
					}
					var want []string
					for i := readBeforeCut + 1; i <= steps; i++ {
						want = append(want, fmt.Sprintf("step %d", i))
					}
					want = append(want, "result")
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("after resuming got %q, want %q", got, want)
					}

					// The stream stays replayable from the store: a second
					// gateway instance on the same database reads the same
					// events, and a client resuming from the start gets them
					// all again.
					// es's replay waits for its flusher to commit the
					// result, which the client may see live before that.
					if _, err := esCollect(ctx, es, c.session, stream, 0); err != nil {
						t.Fatal(err)
					}
					other := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
					stored, err := esCollect(ctx, other, c.session, stream, 0)
					if err != nil || len(stored) != steps+1 {
						t.Fatalf("second instance replays %d events, %v; want %d", len(stored), err, steps+1)
					}
					again := c.resume(ctx, stream+"_0")
					body, _ := io.ReadAll(again.Body)
					again.Body.Close()
					if again.StatusCode != http.StatusOK || bytes.Count(body, []byte("notifications/progress")) != steps {
						t.Fatalf("resume from the start: %s, %d progress events", again.Status, bytes.Count(body, []byte("notifications/progress")))
					}
				})
			}
		}
	}
}

// TestEventStorePurgedResumeIsRefused: a client resuming from before the
// events the cap kept is told (HTTP 400) instead of getting part of them.
func TestEventStorePurgedResumeIsRefused(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			es := mcpbridge.NewEventStore(b.newOpen(t)(t), mcpbridge.EventStoreOptions{KeepPerStream: 3})
			server := mcp.NewServer(&mcp.Implementation{Name: "es-test", Version: "0"}, nil)
			mcp.AddTool(server, &mcp.Tool{Name: "chatty"},
				func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					for i := 1; i <= 6; i++ {
						if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i)}); err != nil {
							return nil, nil, err
						}
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
				})
			srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
				&mcp.StreamableHTTPOptions{EventStore: es}))
			defer srv.Close()
			c := &esClient{t: t, url: srv.URL, http: srv.Client()}
			c.initialize(ctx)
			resp := c.do(ctx, http.MethodPost, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{
				"name": "chatty", "arguments": map[string]any{}, "_meta": map[string]any{"progressToken": "tok"},
			}}, nil)
			r := bufio.NewReader(resp.Body)
			prime, err := readSSE(r)
			if err != nil || prime.name != "prime" {
				t.Fatalf("first event = %+v, %v", prime, err)
			}
			io.Copy(io.Discard, r) // the whole call: 6 progress events and the result
			resp.Body.Close()
			stream, _ := splitEventID(t, prime.id)

			tests := []struct {
				after      int
				wantStatus int
			}{
				{0, http.StatusBadRequest}, // events 1..4 were dropped
				{4, http.StatusOK},         // 5, 6 and the result were kept
			}
			for _, tc := range tests {
				resp := c.resume(ctx, fmt.Sprintf("%s_%d", stream, tc.after))
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("resume after %d: %s (%s), want %d", tc.after, resp.Status, body, tc.wantStatus)
				}
				if tc.wantStatus == http.StatusBadRequest && bytes.Contains(body, []byte("notifications/progress")) {
					t.Errorf("resume after %d: a refused replay carried events: %s", tc.after, body)
				}
			}
		})
	}
}

// esRun runs es's flusher and sweeper until the test ends, and checks that
// Run returns nil then.
func esRun(t *testing.T, es *mcpbridge.EventStore) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- es.Run(ctx) }()
	for !es.Flushing() {
		select {
		case err := <-done:
			t.Fatalf("Run = %v before it started", err)
		case <-time.After(time.Millisecond): // polling for Run to start
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// esGated holds every WriteEvents call until release is closed, and says on
// entered when one arrives.
type esGated struct {
	store.Events
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newESGated(t *testing.T, ev store.Events) *esGated {
	g := &esGated{Events: ev, entered: make(chan struct{}, 1), release: make(chan struct{})}
	return g
}

func (g *esGated) open() { g.once.Do(func() { close(g.release) }) }

func (g *esGated) WriteEvents(ctx context.Context, w []store.StreamEventWrite) ([]store.StreamEventResult, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.Events.WriteEvents(ctx, w)
}

// esStarted runs f in a goroutine and returns a channel closed when it
// returns.
func esStarted(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

func esNotDone(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
		t.Fatalf("%s returned while the store's writes were held", what)
	default:
	}
}

// Many sessions and streams append at once while the flusher commits them
// in batches: each stream replays exactly its own events, in order, from
// this instance and from the store.
func TestEventStoreFlusherConcurrentStreams(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			open := b.newOpen(t)
			es := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{MaxBatch: 16, MaxQueued: 64})
			esRun(t, es)
			const sessions, streams, events = 4, 8, 40
			var wg sync.WaitGroup
			for se := range sessions {
				for st := range streams {
					wg.Go(func() {
						session, stream := fmt.Sprintf("sess%d", se), fmt.Sprintf("s%d", st)
						if err := es.Open(ctx, session, stream); err != nil {
							t.Errorf("Open %s/%s: %v", session, stream, err)
							return
						}
						for i := range events {
							if err := es.Append(ctx, session, stream, []byte(fmt.Sprintf("%s/%s/%d", session, stream, i))); err != nil {
								t.Errorf("Append %s/%s #%d: %v", session, stream, i, err)
								return
							}
							if i == events/2 {
								// A replay mid-way sees every event so far.
								got, err := esCollect(ctx, es, session, stream, -1)
								if err != nil || len(got) != i+1 {
									t.Errorf("%s/%s mid-way: %d events, %v; want %d", session, stream, len(got), err, i+1)
								}
							}
						}
					})
				}
			}
			wg.Wait()
			other := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
			for se := range sessions {
				for st := range streams {
					session, stream := fmt.Sprintf("sess%d", se), fmt.Sprintf("s%d", st)
					var want []string
					for i := range events {
						want = append(want, fmt.Sprintf("%s/%s/%d", session, stream, i))
					}
					for name, s := range map[string]*mcpbridge.EventStore{"same": es, "other": other} {
						// other reads the store only: es's replay committed it.
						if name == "other" {
							if _, err := esCollect(ctx, es, session, stream, -1); err != nil {
								t.Fatal(err)
							}
						}
						got, err := esCollect(ctx, s, session, stream, -1)
						if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("%s instance: %s/%s replays %q, %v; want %q", name, session, stream, got, err, want)
						}
					}
				}
			}
		})
	}
}

// Open and Append return while the store's writes are held; After waits
// for them and then replays every event.
func TestEventStoreAfterWaitsForQueuedWrites(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			g := newESGated(t, b.newOpen(t)(t))
			es := mcpbridge.NewEventStore(g, mcpbridge.EventStoreOptions{})
			esRun(t, es)
			t.Cleanup(g.open) // before Run stops
			esMust(t, "Open", es.Open(ctx, "sess", "s"))
			for _, d := range []string{"", "a", "b", "c"} {
				esMust(t, "Append", es.Append(ctx, "sess", "s", []byte(d)))
				if d == "a" {
					// An event other than a response: the stream is
					// written, and the flusher holds its first writes.
					<-g.entered
				}
			}
			var got []string
			var err error
			done := esStarted(func() { got, err = esCollect(ctx, es, "sess", "s", 0) })
			esNotDone(t, "After", done)
			g.open()
			<-done
			if err != nil || fmt.Sprint(got) != "[a b c]" {
				t.Fatalf("After = %q, %v; want [a b c]", got, err)
			}
		})
	}
}

// SessionClosed behind queued opens and appends deletes them all: nothing
// of the session is left in the store, and later appends fail.
func TestEventStoreSessionClosedAfterQueuedWrites(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			open := b.newOpen(t)
			g := newESGated(t, open(t))
			es := mcpbridge.NewEventStore(g, mcpbridge.EventStoreOptions{})
			esRun(t, es)
			t.Cleanup(g.open)
			esMust(t, "Open", es.Open(ctx, "sess", "s1"))
			esMust(t, "Open", es.Open(ctx, "sess", "s2"))
			esMust(t, "Open", es.Open(ctx, "keep", "s"))
			for i := range 5 {
				esMust(t, "Append", es.Append(ctx, "sess", "s1", []byte(strconv.Itoa(i))))
				if i == 0 {
					<-g.entered // the flusher holds s1's first writes
				}
				esMust(t, "Append", es.Append(ctx, "sess", "s2", []byte(strconv.Itoa(i))))
			}
			esMust(t, "Append", es.Append(ctx, "keep", "s", []byte("kept")))
			var err error
			done := esStarted(func() { err = es.SessionClosed(ctx, "sess") })
			esNotDone(t, "SessionClosed", done)
			g.open()
			<-done
			esMust(t, "SessionClosed", err)
			other := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
			for _, s := range []*mcpbridge.EventStore{es, other} {
				for _, stream := range []string{"s1", "s2"} {
					if got, err := esCollect(ctx, s, "sess", stream, -1); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("closed session's stream %s: %q, %v; want ErrNotFound", stream, got, err)
					}
				}
			}
			if err := es.Append(ctx, "sess", "s1", []byte("late")); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Append after SessionClosed: %v, want ErrNotFound", err)
			}
			if got, err := esCollect(ctx, other, "keep", "s", -1); err != nil || fmt.Sprint(got) != "[kept]" {
				t.Errorf("other session: %q, %v", got, err)
			}
		})
	}
}

// When Run's context ends it commits what is queued before returning; then
// writes are synchronous again.
func TestEventStoreRunFlushesOnShutdown(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			open := b.newOpen(t)
			g := newESGated(t, open(t))
			es := mcpbridge.NewEventStore(g, mcpbridge.EventStoreOptions{})
			stop := esRun(t, es)
			t.Cleanup(g.open)
			esMust(t, "Open", es.Open(ctx, "sess", "s"))
			for i := range 10 {
				esMust(t, "Append", es.Append(ctx, "sess", "s", []byte(strconv.Itoa(i))))
				if i == 0 {
					<-g.entered // the flusher holds the stream's first writes
				}
			}
			stopped := esStarted(stop)
			esNotDone(t, "Run", stopped)
			g.open()
			<-stopped
			other := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
			if got, err := esCollect(ctx, other, "sess", "s", -1); err != nil || fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9]" {
				t.Fatalf("after Run returned, the store holds %q, %v", got, err)
			}
			// Without Run, an append is in the store when Append returns.
			esMust(t, "Append", es.Append(ctx, "sess", "s", []byte("sync")))
			if got, err := esCollect(ctx, other, "sess", "s", 9); err != nil || fmt.Sprint(got) != "[sync]" {
				t.Fatalf("after a synchronous append the store holds %q, %v", got, err)
			}
		})
	}
}

// A full queue makes Append wait for room instead of dropping the event.
func TestEventStoreBackpressure(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			g := newESGated(t, b.newOpen(t)(t))
			es := mcpbridge.NewEventStore(g, mcpbridge.EventStoreOptions{MaxQueued: 4, MaxBatch: 2})
			esRun(t, es)
			t.Cleanup(g.open)
			esMust(t, "Open", es.Open(ctx, "sess", "s"))
			esMust(t, "Append", es.Append(ctx, "sess", "s", []byte("0")))
			<-g.entered // the flusher took the open and the first event, and is held
			for i := 1; i <= 4; i++ {
				esMust(t, "Append", es.Append(ctx, "sess", "s", []byte(strconv.Itoa(i))))
			}
			var err error
			done := esStarted(func() { err = es.Append(ctx, "sess", "s", []byte("5")) })
			esNotDone(t, "Append to a full queue", done)
			g.open()
			<-done
			esMust(t, "Append after waiting", err)
			if got, err := esCollect(ctx, es, "sess", "s", -1); err != nil || fmt.Sprint(got) != "[0 1 2 3 4 5]" {
				t.Fatalf("After = %q, %v", got, err)
			}
		})
	}
}

// esCounting counts the writes that reach the store's WriteEvents.
type esCounting struct {
	store.Events
	writes atomic.Int64
}

func (c *esCounting) WriteEvents(ctx context.Context, w []store.StreamEventWrite) ([]store.StreamEventResult, error) {
	c.writes.Add(int64(len(w)))
	return c.Events.WriteEvents(ctx, w)
}

// esRows counts the stream and event rows in the SQLite file at path.
func esRows(tb testing.TB, path string) (streams, events int64) {
	tb.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM mcp_streams), (SELECT COUNT(*) FROM mcp_events)`).Scan(&streams, &events); err != nil {
		tb.Fatal(err)
	}
	return streams, events
}

// esGateway is the MCP bridge over a SQLite file with the durable event
// store and its flusher running, as the gateway wires them, behind a real
// HTTP server.
type esGateway struct {
	path   string
	ws     *workspace.Workspace
	events *esCounting
	es     *mcpbridge.EventStore
	url    string
	// stop stops the server, the flusher and the store; the store's file
	// then holds everything the event store committed.
	stop func()
}

func newESGateway(tb testing.TB) *esGateway {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "parley.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ws := workspace.New(st, workspace.Options{})
	counting := &esCounting{Events: st}
	es := mcpbridge.NewEventStore(counting, mcpbridge.EventStoreOptions{})
	br, err := mcpbridge.New(ws, st, mcpbridge.Options{EventStore: es})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = es.Run(ctx) })
	wg.Go(func() { _ = br.Run(ctx) })
	srv := httptest.NewServer(br)
	var once sync.Once
	g := &esGateway{path: path, ws: ws, events: counting, es: es, url: srv.URL}
	g.stop = func() {
		once.Do(func() {
			srv.CloseClientConnections()
			srv.Close()
			cancel()
			wg.Wait()
			st.Close()
		})
	}
	tb.Cleanup(g.stop)
	return g
}

func (g *esGateway) connect(tb testing.TB, opts *mcp.ClientOptions) *mcp.ClientSession {
	tb.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "es-bench", Version: "1"}, opts)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: g.url},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	return cs
}

// BenchmarkSessionGetTicket measures get_ticket in a 2025-11-25 session,
// and opening a session, through a real HTTP server and the go-sdk client,
// with the durable event store on SQLite. It reports the event-store
// writes and the stream and event rows left per operation.
func BenchmarkSessionGetTicket(b *testing.B) {
	b.Run("get_ticket", func(b *testing.B) {
		g := newESGateway(b)
		ctx := context.Background()
		customer := "acme"
		if _, _, err := g.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Customer: &customer}); err != nil {
			b.Fatal(err)
		}
		cs := g.connect(b, nil)
		defer cs.Close()
		before := g.events.writes.Load()
		b.ReportAllocs()
		for b.Loop() {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpbridge.ToolGetTicket, Arguments: map[string]any{"ticket_id": "T-1"}})
			if err != nil || res.IsError {
				b.Fatalf("get_ticket: %v", err)
			}
		}
		b.StopTimer()
		writes := g.events.writes.Load() - before
		// Stopped with the session open, so that its rows stay for counting.
		g.stop()
		streams, events := esRows(b, g.path)
		b.ReportMetric(float64(writes)/float64(b.N), "event-writes/op")
		b.ReportMetric(float64(streams+events), "event-rows")
	})
	b.Run("open_session", func(b *testing.B) {
		g := newESGateway(b)
		before := g.events.writes.Load()
		b.ReportAllocs()
		for b.Loop() {
			g.connect(b, nil).Close()
		}
		b.StopTimer()
		writes := g.events.writes.Load() - before
		g.stop()
		streams, events := esRows(b, g.path)
		b.ReportMetric(float64(writes)/float64(b.N), "event-writes/op")
		b.ReportMetric(float64(streams+events), "event-rows")
	})
}

// TestEventStoreWritesOnlyStreamsThatOutliveTheirResponse: a stream is
// written to the store only once it outlives its response; one that ends
// as its single response leaves nothing, and one that is written replays
// the same events from the store after a restart (a new EventStore over
// the same database).
func TestEventStoreWritesOnlyStreamsThatOutliveTheirResponse(t *testing.T) {
	const (
		response = `{"jsonrpc":"2.0","id":2,"result":{"content":[]}}`
		failed   = `{"jsonrpc":"2.0","id":"x","error":{"code":-32602,"message":"no"}}`
		progress = `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`
		elicit   = `{"jsonrpc":"2.0","id":1,"method":"elicitation/create","params":{}}`
	)
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		stream string
		post   context.Context // the context Open gets
		events []string        // "" is the priming event
		// want is what the store replays after event 0 after a restart;
		// nil means nothing was written.
		want []string
	}{
		{"single response", "s", live, []string{"", response}, nil},
		{"single error response", "s", live, []string{"", failed}, nil},
		{"single response without priming", "s", live, []string{response}, nil},
		{"progress, then response", "s", live, []string{"", progress, response}, []string{progress, response}},
		{"server-to-client request, then response", "s", live, []string{"", elicit, response}, []string{elicit, response}},
		{"response after its POST ended", "s", gone, []string{"", response}, []string{response}},
		{"standalone stream", "", live, []string{progress}, []string{}},
	}
	for _, b := range esBackends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				ctx := t.Context()
				open := b.newOpen(t)
				counting := &esCounting{Events: open(t)}
				es := mcpbridge.NewEventStore(counting, mcpbridge.EventStoreOptions{})
				esMust(t, "Open", es.Open(tt.post, "sess", tt.stream))
				for _, e := range tt.events {
					var data []byte
					if e != "" {
						data = []byte(e)
					}
					esMust(t, "Append", es.Append(ctx, "sess", tt.stream, data))
				}
				restarted := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
				got, err := esCollect(ctx, restarted, "sess", tt.stream, 0)
				if tt.want == nil {
					if n := counting.writes.Load(); n != 0 {
						t.Errorf("%d writes reached the store, want none", n)
					}
					if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("after a restart, After = %q, %v; want ErrNotFound", got, err)
					}
					return
				}
				if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("after a restart, After(0) = %q, %v; want %q", got, err, tt.want)
				}
				if got, err := esCollect(ctx, es, "sess", tt.stream, 0); err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("same instance: After(0) = %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	}
}

// A stream held in memory replays from memory, and a session that wrote
// nothing writes nothing when it closes.
func TestEventStoreReplaysStreamHeldInMemory(t *testing.T) {
	ctx := t.Context()
	counting := &esCounting{Events: esSQLite(t)(t)}
	es := mcpbridge.NewEventStore(counting, mcpbridge.EventStoreOptions{})
	esMust(t, "Open standalone", es.Open(ctx, "sess", ""))
	esMust(t, "Open", es.Open(ctx, "sess", "s"))
	esMust(t, "Append priming", es.Append(ctx, "sess", "s", nil))
	tests := []struct {
		stream string
		after  int
		want   []string
	}{
		{"", -1, nil},
		{"s", -1, []string{""}}, // the priming event, as a marker
		{"s", 0, nil},
		{"s", 5, nil},
	}
	for _, tt := range tests {
		if got, err := esCollect(ctx, es, "sess", tt.stream, tt.after); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("After(%q, %d) = %q, %v; want %q", tt.stream, tt.after, got, err, tt.want)
		}
	}
	esMust(t, "SessionClosed", es.SessionClosed(ctx, "sess"))
	if n := counting.writes.Load(); n != 0 {
		t.Errorf("%d writes reached the store, want none", n)
	}
	if _, err := esCollect(ctx, es, "sess", "s", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("After on a closed session: %v, want ErrNotFound", err)
	}
}

// TestEventStoreSessionReadsWriteNothing: a session's opening, its
// get_ticket calls and its close, through the bridge and the go-sdk
// client, leave no row in the event store's tables.
func TestEventStoreSessionReadsWriteNothing(t *testing.T) {
	g := newESGateway(t)
	ctx := t.Context()
	customer := "acme"
	if _, _, err := g.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Customer: &customer}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cs := g.connect(t, nil)
		for range 5 {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpbridge.ToolGetTicket, Arguments: map[string]any{"ticket_id": "T-1"}})
			if err != nil || res.IsError {
				t.Fatalf("get_ticket: %v, %+v", err, res)
			}
		}
		cs.Close()
	}
	// A session left open when the gateway stops keeps its rows too.
	open := g.connect(t, nil)
	defer open.Close()
	if _, err := open.CallTool(ctx, &mcp.CallToolParams{Name: mcpbridge.ToolGetTicket, Arguments: map[string]any{"ticket_id": "T-1"}}); err != nil {
		t.Fatal(err)
	}
	g.stop() // the flusher commits what is queued
	if n := g.events.writes.Load(); n != 0 {
		t.Errorf("%d event-store writes, want none", n)
	}
	if streams, events := esRows(t, g.path); streams != 0 || events != 0 {
		t.Errorf("the store holds %d streams and %d events, want none", streams, events)
	}
}

// TestEventStoreResumesResponseAfterCut: a call that sends nothing but its
// response, whose connection breaks before the response, is written once
// the response arrives, so the client resuming from the priming event gets
// it, also after a restart.
func TestEventStoreResumesResponseAfterCut(t *testing.T) {
	for _, b := range esBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			open := b.newOpen(t)
			es := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
			esRun(t, es)
			gate := make(chan struct{})
			server := mcp.NewServer(&mcp.Implementation{Name: "es-test", Version: "0"}, nil)
			mcp.AddTool(server, &mcp.Tool{Name: "slow"},
				func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					select {
					case <-gate:
					case <-ctx.Done():
						return nil, nil, ctx.Err()
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
				})
			srv := httptest.NewUnstartedServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server },
				&mcp.StreamableHTTPOptions{EventStore: es}))
			// The server closes a connection once its request's handler
			// returned: for the cut POST, once the SDK saw it end.
			closed := make(chan struct{}, 16)
			srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
				if state == http.StateClosed {
					closed <- struct{}{}
				}
			}
			srv.Start()
			defer srv.Close()
			c := &esClient{t: t, url: srv.URL, http: srv.Client()}
			c.initialize(ctx)

			callCtx, cut := context.WithCancel(ctx)
			resp := c.do(callCtx, http.MethodPost, map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{
				"name": "slow", "arguments": map[string]any{},
			}}, nil)
			prime, err := readSSE(bufio.NewReader(resp.Body))
			if err != nil || prime.name != "prime" {
				t.Fatalf("first event = %+v, %v; want the priming event", prime, err)
			}
			stream, _ := splitEventID(t, prime.id)
			resp.Body.Close()
			cut()
			select {
			case <-closed:
			case <-ctx.Done():
				t.Fatal("the server never closed the cut connection")
			}
			close(gate) // the response comes after its POST ended

			again := c.resume(ctx, prime.id)
			body, _ := io.ReadAll(again.Body)
			again.Body.Close()
			if again.StatusCode != http.StatusOK || bytes.Count(body, []byte(`"done"`)) != 1 || !bytes.Contains(body, []byte("id: "+stream+"_1")) {
				t.Errorf("resume after the priming event: %s: %s; want the response as event 1", again.Status, body)
			}
			// The resumed GET may have got the response live, before its
			// write, queued for the flusher, was committed. After on this
			// EventStore waits for the stream's queued writes: once it has
			// the response, a restarted process finds it too.
			if got, err := esCollect(ctx, es, c.session, stream, 0); err != nil || len(got) != 1 || !strings.Contains(got[0], `"done"`) {
				t.Errorf("After(0) = %q, %v; want the response", got, err)
			}
			restarted := mcpbridge.NewEventStore(open(t), mcpbridge.EventStoreOptions{})
			if got, err := esCollect(ctx, restarted, c.session, stream, 0); err != nil || len(got) != 1 || !strings.Contains(got[0], `"done"`) {
				t.Errorf("after a restart, After(0) = %q, %v; want the response", got, err)
			}
		})
	}
}
