package mcpbridge

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/workspace"
)

// countingListener counts the connections it accepts and the writes made
// on them.
type countingListener struct {
	net.Listener
	conns, writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.Add(1)
	return &countingConn{Conn: c, writes: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A get_ticket call answered within primeHold leaves the server in one
// write, in both generations: in a session its priming event, its response
// and the end of the body; stateless its response and the end of the body.
// Without primeWriter a session call takes three writes and a stateless
// one two.
func TestQuickCallLeavesInOneWrite(t *testing.T) {
	defer func(d time.Duration) { primeHold = d }(primeHold)
	primeHold = time.Minute // no call here takes that long, however slow the machine

	f := newFixture(t)
	if _, _, err := f.ws.SaveTicket(t.Context(), "triage", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: newLocalListener(t)}
	srv := httptest.NewUnstartedServer(f.bridge)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			c := mcp.NewClient(&mcp.Implementation{Name: "test-host", Version: "1"}, nil)
			cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: srv.URL, DisableStandaloneSSE: true},
				&mcp.ClientSessionOptions{ProtocolVersion: g.version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			for range 3 {
				before := ln.writes.Load()
				var got workspace.Ticket
				call(t, cs, ToolGetTicket, map[string]any{"ticket_id": "T-1"}, &got)
				if got.ID != "T-1" {
					t.Fatalf("get_ticket: %+v", got)
				}
				if n := ln.writes.Load() - before; n != 1 {
					t.Errorf("get_ticket took %d writes, want 1", n)
				}
			}
		})
	}
}

func newLocalListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A session call that takes longer than primeHold gets its priming event
// on its own, before its response: the client has the stream's ID to
// resume from while the call runs.
func TestSlowCallGetsPrimingEventFirst(t *testing.T) {
	defer func(d time.Duration) { primeHold = d }(primeHold)
	primeHold = 10 * time.Millisecond

	f := newFixture(t)
	ctx := t.Context()
	if _, _, err := f.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	session := rawInitialize(t, f.url)
	waiting := f.bridge.waiting("T-1")
	resp := rawPost(t, f.url, session, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"wait_for_ticket",`+
		`"arguments":{"ticket_id":"T-1","statuses":["resolved"],"timeout_seconds":30}}}`)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := sseEvents(resp.Body)

	// The call waits for the ticket to be resolved: its priming event comes
	// first, alone.
	var first string
	select {
	case first = <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s while the call waits: the priming event is held")
	}
	if !strings.Contains(first, "\nid: ") || !strings.HasSuffix(first, "data: ") {
		t.Fatalf("first event %q, want a priming event (an id, no data)", first)
	}
	select {
	case e := <-events:
		t.Fatalf("an event before the ticket changed: %q", e)
	default:
	}
	<-waiting
	if _, err := f.ws.SaveResolution(ctx, "resolver", workspace.ResolutionInput{TicketID: "T-1", Resolution: "refunded"}); err != nil {
		t.Fatal(err)
	}
	var second string
	select {
	case second = <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no response within 10s of the ticket's resolution")
	}
	if !strings.Contains(second, `"id":7`) || !strings.Contains(second, `"result"`) {
		t.Errorf("second event %q, want the call's response", second)
	}
}

// sseEvents sends each SSE event read from r (its lines joined with \n),
// and closes the channel at the end of r.
func sseEvents(r io.Reader) <-chan string {
	out := make(chan string, 8)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var lines []string
		for sc.Scan() {
			if sc.Text() == "" {
				out <- strings.Join(lines, "\n")
				lines = nil
				continue
			}
			lines = append(lines, sc.Text())
		}
	}()
	return out
}

// rawInitialize opens a 2025-11-25 session over plain HTTP and returns its
// ID.
func rawInitialize(t *testing.T, url string) string {
	t.Helper()
	resp := rawPost(t, url, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",`+
		`"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	if session == "" {
		t.Fatalf("initialize: no session ID (%s)", resp.Status)
	}
	resp = rawPost(t, url, session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp.Body.Close()
	if diff := cmp.Diff(http.StatusAccepted, resp.StatusCode); diff != "" {
		t.Fatalf("initialized: status (-want +got):\n%s", diff)
	}
	return session
}

func rawPost(t *testing.T, url, session, body string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
