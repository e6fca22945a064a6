package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestSubscriptionsThroughNginx: a go-sdk client in 2025-11-25 session mode,
// with its standalone GET stream, subscribes to tickets through nginx (round
// robin, no stickiness) in front of two gateway processes on one store; the
// tickets change through the balancer, on either replica, and each change's
// notifications/resources/updated arrives once, through the replica holding
// the GET stream, although at least one subscribe landed on the other
// replica (issue 13; docs/design.md, "What the fifth step built").
//
// Needs /usr/sbin/nginx and, for its postgres half, PostgreSQL; see
// TestSessionsThroughNginx.
func TestSubscriptionsThroughNginx(t *testing.T) {
	nginx := nginxBinary(t)
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			storeURL := tc.store(t)
			var addrs []string
			var gateways []*process
			for range 2 {
				p := start(t, t.TempDir(), cleanEnv("PARLEY_STORE="+storeURL, "PARLEY_MCP_STATE_KEY=shared-secret-for-replicas"), "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
				addrs = append(addrs, p.addr(t))
				gateways = append(gateways, p)
			}
			lb := startNginx(t, nginx, addrs)
			logs := func() string {
				var b strings.Builder
				for i, p := range gateways {
					fmt.Fprintf(&b, "gateway %d (%s), end of log:\n%s\n", i, addrs[i], tail(p.logs.String(), 40))
				}
				fmt.Fprintf(&b, "nginx error log (end):\n%s", tail(lb.logs.String(), 20))
				return b.String()
			}
			sid := subscribeThroughBalancer(t, "http://"+lb.addr+"/mcp", logs)
			lb.assertServedByAll(t, sid, addrs)
		})
	}
}

// upstreamRecorder is the client's transport: it notes which replica (nginx's
// X-Upstream) answered each request, by JSON-RPC method ("GET" for the
// standalone stream), and closes getOpen once a GET stream is open.
type upstreamRecorder struct {
	mu      sync.Mutex
	byCall  map[string][]string // method -> upstreams
	getOpen chan struct{}
	once    sync.Once
}

func (u *upstreamRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	method := req.Method
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method != "" {
			method = msg.Method
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	u.mu.Lock()
	u.byCall[method] = append(u.byCall[method], resp.Header.Get("X-Upstream"))
	u.mu.Unlock()
	if req.Method == http.MethodGet && resp.StatusCode == http.StatusOK {
		// The gateway names the GET stream's replica as the session's
		// deliverer before the response's headers leave.
		u.once.Do(func() { close(u.getOpen) })
	}
	return resp, nil
}

func (u *upstreamRecorder) served(method string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.byCall[method])
}

// subscribeThroughBalancer runs the subscriptions of one session through
// the balancer at url and returns the session's ID.
func subscribeThroughBalancer(t *testing.T, url string, logs func() string) string {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	call := func(cs *mcp.ClientSession, name string, args map[string]any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, logs())
		}
		if res.IsError {
			t.Fatalf("%s: tool error: %v", name, res.Content)
		}
	}

	// The tickets exist before the subscriber's session opens: their
	// creation is not one of the changes it hears of.
	setup, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-setup", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect through nginx: %v\n%s", err, logs())
	}
	for _, id := range []string{"SUB-1", "SUB-2"} {
		call(setup, "save_ticket", map[string]any{"ticket_id": id, "customer": "acme", "summary": "charged twice"})
	}
	setup.Close()

	updates := make(chan string, 64)
	rec := &upstreamRecorder{byCall: map[string][]string{}, getOpen: make(chan struct{})}
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-subscriber", Version: "1"}, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updates <- req.Params.URI
		},
	})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rec}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect through nginx: %v\n%s", err, logs())
	}
	defer cs.Close()
	select {
	case <-rec.getOpen:
	case <-ctx.Done():
		t.Fatalf("the client's standalone GET stream did not open\n%s", logs())
	}
	for _, uri := range []string{"ticket://SUB-1", "ticket://SUB-2"} {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			t.Fatalf("subscribe to %s: %v\n%s", uri, err, logs())
		}
	}
	getOn, subscribedOn := rec.served(http.MethodGet), rec.served("resources/subscribe")
	t.Logf("GET stream on %v; subscribes on %v", getOn, subscribedOn)
	if len(getOn) != 1 || !slices.ContainsFunc(subscribedOn, func(u string) bool { return u != getOn[0] }) {
		t.Fatalf("want one GET stream and a subscribe on the other replica: GET on %v, subscribes on %v", getOn, subscribedOn)
	}

	// Each change, to SUB-1 then SUB-2, on whichever replica nginx picks:
	// the next update is that ticket's, so none came twice.
	for i := range 3 {
		for _, id := range []string{"SUB-1", "SUB-2"} {
			call(cs, "save_ticket", map[string]any{"ticket_id": id, "summary": fmt.Sprintf("change %d", i)})
			select {
			case got := <-updates:
				if want := "ticket://" + id; got != want {
					t.Fatalf("change %d of %s: the next update is %s, want %s\n%s", i, id, got, want, logs())
				}
			case <-ctx.Done():
				t.Fatalf("change %d of %s: no notifications/resources/updated\n%s", i, id, logs())
			}
		}
	}
	t.Logf("save_ticket calls on %v", rec.served("tools/call"))
	return cs.ID()
}
