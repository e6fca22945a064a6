package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store/postgres/pgtest"
)

// connectMCP opens an MCP session to a gateway at addr.
func connectMCP(t *testing.T, addr, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-" + version, Version: "1"}, opts)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect to %s (%q): %v", addr, version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) map[string]any {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: tool error: %v", name, res.Content)
	}
	var out map[string]any
	data, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// Two gateway processes share one PostgreSQL database. A subscriber of
// ticket://T-1 on one hears of a write made through the other, in both
// protocol generations, because updates come from the store's change feed.
func TestSubscriptionFanOutAcrossReplicas(t *testing.T) {
	dbURL := pgtest.NewSchema(t)
	var addrs []string
	for range 2 {
		p := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+dbURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas"), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
		addrs = append(addrs, p.addr(t))
	}
	writer := connectMCP(t, addrs[1], "2025-11-25", nil)
	callTool(t, writer, "save_ticket", map[string]any{"ticket_id": "T-1", "customer": "acme", "category": "billing"})

	for _, gen := range []struct{ name, version string }{{"sessions", "2025-11-25"}, {"stateless", ""}} {
		version := gen.version
		t.Run(gen.name, func(t *testing.T) {
			updated := make(chan string, 16)
			sub := connectMCP(t, addrs[0], version, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
					updated <- req.Params.URI
				},
			})
			if err := sub.Subscribe(t.Context(), &mcp.SubscribeParams{URI: "ticket://T-1"}); err != nil {
				t.Fatal(err)
			}
			before := callTool(t, writer, "get_ticket", map[string]any{"ticket_id": "T-1"})
			callTool(t, writer, "save_ticket", map[string]any{"ticket_id": "T-1", "summary": "update " + version})
			select {
			case uri := <-updated:
				if uri != "ticket://T-1" {
					t.Errorf("notified of %s, want ticket://T-1", uri)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the subscriber on the other replica heard nothing")
			}
			// The subscriber's replica reads what the writer's replica wrote.
			res, err := sub.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "ticket://T-1"})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Ticket struct {
					Version float64 `json:"version"`
					Summary string  `json:"summary"`
				} `json:"ticket"`
			}
			if err := json.Unmarshal([]byte(res.Contents[0].Text), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Ticket.Version != before["version"].(float64)+1 || doc.Ticket.Summary != "update "+version {
				t.Errorf("ticket read on the other replica = %+v", doc.Ticket)
			}
		})
	}
}

// alternating is a load balancer without stickiness in front of gateway
// replicas: each request goes to the next one. It counts, by replica, the
// requests of a session (Mcp-Session-Id) answered with success.
type alternating struct {
	addrs []string

	mu     sync.Mutex
	next   int
	served []int
}

func (a *alternating) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	i := a.next
	a.next = (a.next + 1) % len(a.addrs)
	a.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Host, req.Host = a.addrs[i], a.addrs[i]
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && resp.StatusCode < 300 && req.Header.Get("Mcp-Session-Id") != "" {
		a.mu.Lock()
		a.served[i]++
		a.mu.Unlock()
	}
	return resp, err
}

// Two gateway processes share one PostgreSQL database. A 2025-11-25
// session opened on one (initialize) is served by the other: the client's
// requests alternate between them, with the same Mcp-Session-Id, and every
// call succeeds (issue 13, first step: the session state is in the store,
// and a replica that does not hold the session rebuilds it).
func TestSessionAcrossReplicas(t *testing.T) {
	dbURL := pgtest.NewSchema(t)
	var addrs []string
	for range 2 {
		p := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+dbURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas"), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
		addrs = append(addrs, p.addr(t))
	}
	lb := &alternating{addrs: addrs, served: make([]int, len(addrs))}
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-balanced", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:   "http://" + addrs[0] + "/mcp",
		HTTPClient: &http.Client{Transport: lb},
		// Only the calls take turns: the GET stream would take one at a
		// time of its own choosing.
		DisableStandaloneSSE: true,
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect through the balancer: %v", err)
	}
	defer cs.Close()

	callTool(t, cs, "save_ticket", map[string]any{"ticket_id": "T-7", "customer": "acme", "category": "billing"})
	first := callTool(t, cs, "get_ticket", map[string]any{"ticket_id": "T-7"})
	for i := range 3 {
		summary := fmt.Sprintf("turn %d", i)
		callTool(t, cs, "save_ticket", map[string]any{"ticket_id": "T-7", "summary": summary})
		got := callTool(t, cs, "get_ticket", map[string]any{"ticket_id": "T-7"})
		if got["summary"] != summary || got["version"] != first["version"].(float64)+float64(i)+1 {
			t.Errorf("turn %d: get_ticket = %v", i, got)
		}
	}
	lb.mu.Lock()
	served := append([]int(nil), lb.served...)
	lb.mu.Unlock()
	for i, n := range served {
		if n < 4 {
			t.Errorf("replica %d answered %d requests of the session, want at least 4 (%v)", i, n, served)
		}
	}
}
