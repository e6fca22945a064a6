package hostclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protocol versions under test.
const (
	sessionProtocol   = "2025-11-25"
	statelessProtocol = "2026-07-28"
)

const testToken = "s3cret-token"

// testServer is a real go-sdk MCP server on 127.0.0.1 with tools that
// exercise everything the client handles.
type testServer struct {
	URL     string
	srv     *httptest.Server
	mcp     *mcp.Server
	mode    serverMode
	handler atomic.Pointer[http.Handler]
	// refuseReplay answers GETs with Last-Event-ID as a server whose
	// event store has dropped the events does.
	refuseReplay atomic.Bool

	mu       sync.Mutex
	requests []seenRequest
}

type seenRequest struct {
	method, auth, sessionID, protocolVersion, lastEventID string
}

// serverMode is what a testServer speaks.
type serverMode int

const (
	stateful  serverMode = iota // sessions: 2025-11-25 and older, with an event store
	stateless                   // 2026-07-28 only
	dual                        // both, on one endpoint, as Parley serves them
)

func newTestServer(t *testing.T, mode serverMode) *testServer {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "v1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	addTestTools(s)
	ts := &testServer{mcp: s, mode: mode}
	ts.restart()
	ts.srv = httptest.NewServer(http.HandlerFunc(ts.serve))
	ts.URL = ts.srv.URL + "/mcp"
	t.Cleanup(func() {
		ts.srv.CloseClientConnections()
		ts.srv.Close()
	})
	return ts
}

// restart replaces the MCP handler, as a gateway restart would: the
// sessions of the old one are unknown to the new one.
func (ts *testServer) restart() {
	get := func(*http.Request) *mcp.Server { return ts.mcp }
	statelessH := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	statefulH := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)})
	var h http.Handler
	switch ts.mode {
	case stateful:
		h = statefulH
	case stateless:
		h = statelessH
	case dual:
		// The stateless protocol's requests carry its version in the
		// header (server/discover included); initialize and the
		// requests of a session do not, or carry an older one.
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(headerProtocolVersion) >= statelessVersion {
				statelessH.ServeHTTP(w, r)
			} else {
				statefulH.ServeHTTP(w, r)
			}
		})
	}
	ts.handler.Store(&h)
}

func (ts *testServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.requests = append(ts.requests, seenRequest{
		method:          r.Method,
		auth:            r.Header.Get("Authorization"),
		sessionID:       r.Header.Get(headerSessionID),
		protocolVersion: r.Header.Get(headerProtocolVersion),
		lastEventID:     r.Header.Get(headerLastEventID),
	})
	ts.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if ts.refuseReplay.Load() && r.Method == http.MethodGet && r.Header.Get(headerLastEventID) != "" {
		http.Error(w, "failed to replay events", http.StatusBadRequest)
		return
	}
	(*ts.handler.Load()).ServeHTTP(w, r)
}

func (ts *testServer) seen() []seenRequest {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]seenRequest(nil), ts.requests...)
}

// waitForRequest waits until the server has seen a request with that
// method on that session.
func (ts *testServer) waitForRequest(t *testing.T, method, sessionID string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range ts.seen() {
			if r.method == method && r.sessionID == sessionID {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s request on session %s", method, sessionID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (ts *testServer) updated(t *testing.T, uri string) {
	t.Helper()
	if err := ts.mcp.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
		t.Fatal(err)
	}
}

type ticketIn struct {
	ID string `json:"id" jsonschema:"the ticket ID"`
}

type ticketOut struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version int    `json:"version"`
}

var objectSchema = json.RawMessage(`{"type":"object"}`)

const refundForm = `{
  "type": "object",
  "properties": {
    "amount":  {"type": "number", "minimum": 0, "default": 250, "description": "EUR to refund"},
    "confirm": {"type": "boolean", "description": "Refund now?"},
    "count":   {"type": "integer", "title": "Items"},
    "note":    {"type": "string", "title": "Note"},
    "reason":  {"type": "string", "enum": ["duplicate", "damaged"], "enumNames": ["Duplicate charge", "Damaged goods"]}
  },
  "required": ["confirm", "reason"]
}`

func textResult(format string, args ...any) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf(format, args...)}}}
}

func addTestTools(s *mcp.Server) {
	// (a) structured output.
	mcp.AddTool(s, &mcp.Tool{Name: "get_ticket", Description: "Fetch a ticket"},
		func(_ context.Context, _ *mcp.CallToolRequest, in ticketIn) (*mcp.CallToolResult, ticketOut, error) {
			return nil, ticketOut{ID: in.ID, Status: "open", Version: 3}, nil
		})

	// (b) progress notifications and a log message.
	s.AddTool(&mcp.Tool{Name: "escalate", InputSchema: objectSchema},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			token := req.Params.GetProgressToken()
			if token == nil {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "no progress token"}}}, nil
			}
			for i, msg := range []string{"queued", "escalated"} {
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token, Progress: float64(i + 1), Total: 5, Message: msg,
				})
				if err != nil {
					return nil, err
				}
			}
			if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "warning", Logger: "escalation", Data: "refund above limit"}); err != nil {
				return nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.TextContent{Text: "escalated T-1"},
				&mcp.ResourceLink{URI: "negotiation://N-1", Name: "N-1"},
			}}, nil
		})

	// (c) elicitation, multi round-trip form.
	s.AddTool(&mcp.Tool{Name: "refund", InputSchema: objectSchema},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if len(req.Params.InputResponses) == 0 {
				return &mcp.CallToolResult{
					InputRequests: mcp.InputRequestMap{"confirm": &mcp.ElicitParams{
						Message:         "Refund 250 EUR on T-1?",
						RequestedSchema: json.RawMessage(refundForm),
					}},
					RequestState: "refund-T-1",
				}, nil
			}
			if req.Params.RequestState != "refund-T-1" {
				return textResult("bad request state %q", req.Params.RequestState), nil
			}
			r, ok := req.Params.InputResponses["confirm"].(*mcp.ElicitResult)
			if !ok {
				return textResult("unexpected input response %T", req.Params.InputResponses["confirm"]), nil
			}
			res := textResult("refund: %s", r.Action)
			res.StructuredContent = map[string]any{"action": r.Action, "content": r.Content}
			return res, nil
		})

	// (d) sampling, multi round-trip.
	s.AddTool(&mcp.Tool{Name: "summarize", InputSchema: objectSchema},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if len(req.Params.InputResponses) == 0 {
				return &mcp.CallToolResult{
					InputRequests: mcp.InputRequestMap{"summary": &mcp.CreateMessageParams{
						MaxTokens:    200,
						SystemPrompt: "You summarise support tickets.",
						Messages: []*mcp.SamplingMessage{{
							Role: "user", Content: &mcp.TextContent{Text: "Summarise ticket T-1"},
						}},
					}},
					RequestState: "summary-T-1",
				}, nil
			}
			var text, model string
			switch r := req.Params.InputResponses["summary"].(type) {
			case *mcp.CreateMessageWithToolsResult:
				model = r.Model
				if len(r.Content) > 0 {
					text = contentText(r.Content[0])
				}
			case *mcp.CreateMessageResult:
				model, text = r.Model, contentText(r.Content)
			default:
				return textResult("unexpected input response %T", r), nil
			}
			return textResult("summary by %s: %s", model, text), nil
		})

	// (e) a tool error.
	s.AddTool(&mcp.Tool{Name: "fail", InputSchema: objectSchema},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res := textResult("ticket T-9 not found")
			res.IsError = true
			return res, nil
		})

	s.AddResource(&mcp.Resource{URI: "ticket://T-1", Name: "T-1", MIMEType: "application/json"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
				URI: req.Params.URI, MIMEType: "application/json", Text: `{"id":"T-1","status":"open"}`,
			}}}, nil
		})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "ticket://{id}", Name: "ticket"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return nil, mcp.ResourceNotFoundError(req.Params.URI)
		})
}

// buffer is a bytes.Buffer safe for the client's goroutines and the test.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until the buffer holds want.
func waitFor(t *testing.T, b *buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; output so far:\n%s", want, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %q; got:\n%s", what, want, got)
		}
	}
}

// runAsync runs c.Run and returns a channel with its result.
func runAsync(ctx context.Context, c *Client) <-chan error {
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return done
}

func wait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}
