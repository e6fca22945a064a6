package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/workspace"
)

// cuttingTransport breaks the first tool-call event stream just after its
// first progress event, as a dropped connection would, and counts the GETs
// that resume a stream with Last-Event-ID.
type cuttingTransport struct {
	base    http.RoundTripper
	cut     atomic.Bool
	resumed atomic.Int32
}

func (c *cuttingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.Header.Get("Last-Event-ID") != "" {
		c.resumed.Add(1)
	}
	var body []byte
	if req.Method == http.MethodPost && req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil || !bytes.Contains(body, []byte(`"tools/call"`)) || resp.Header.Get("Content-Type") != "text/event-stream" {
		return resp, err
	}
	if c.cut.CompareAndSwap(false, true) {
		resp.Body = &cutAfterProgress{ReadCloser: resp.Body}
	}
	return resp, nil
}

// cutAfterProgress passes bytes through until a whole progress event has
// been read, then fails every read.
type cutAfterProgress struct {
	io.ReadCloser
	seen []byte
	done bool
}

var errCut = errors.New("connection cut by the test")

func (r *cutAfterProgress) Read(p []byte) (int, error) {
	if r.done {
		return 0, errCut
	}
	n, err := r.ReadCloser.Read(p)
	r.seen = append(r.seen, p[:n]...)
	if i := bytes.Index(r.seen, []byte("notifications/progress")); i >= 0 {
		if end := bytes.Index(r.seen[i:], []byte("\n\n")); end >= 0 {
			// Deliver up to the end of that event, then break.
			keep := n - (len(r.seen) - (i + end + 2))
			r.done = true
			return keep, nil
		}
	}
	return n, err
}

// A wait_for_ticket call whose event stream is cut after its first progress
// notification resumes with Last-Event-ID and receives every progress event
// exactly once, in order, and then its result.
func TestWaitForTicketResumesAfterCut(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	cutter := &cuttingTransport{base: http.DefaultTransport}
	progress := make(chan string, 16)
	c := mcp.NewClient(&mcp.Implementation{Name: "resuming-host", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Message
		},
	})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.url, HTTPClient: &http.Client{Transport: cutter}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, _, err := f.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []string
	changes := make(chan error, 1)
	waiting := f.bridge.waiting("T-1")
	go func() {
		<-waiting
		_, _, err := f.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusTriaged)})
		if err != nil {
			changes <- err
			return
		}
		// The stream is cut once this first event has arrived; the next
		// changes happen while the client is away or reconnecting.
		select {
		case msg := <-progress:
			mu.Lock()
			got = append(got, msg)
			mu.Unlock()
		case <-time.After(10 * time.Second):
			changes <- errors.New("first progress event never arrived")
			return
		}
		if _, err := f.ws.Escalate(ctx, "billing", "T-1", "refund over limit", nil); err != nil {
			changes <- err
			return
		}
		_, err = f.ws.SaveResolution(ctx, "billing", workspace.ResolutionInput{TicketID: "T-1", Resolution: "refunded"})
		changes <- err
	}()

	params := &mcp.CallToolParams{Name: ToolWaitForTicket, Arguments: map[string]any{"ticket_id": "T-1", "statuses": []string{"resolved"}, "timeout_seconds": 30, "since_version": 1}}
	params.SetProgressToken("wait-resume")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("wait_for_ticket after a cut: %v", err)
	}
	if err := <-changes; err != nil {
		t.Fatal(err)
	}
	var out waitOut
	data, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(data, &out); err != nil || !out.Reached || out.Ticket.Status != workspace.StatusResolved {
		t.Fatalf("result = %s (%v)", data, err)
	}
	if !cutter.cut.Load() || cutter.resumed.Load() == 0 {
		t.Fatalf("stream cut=%v, resumed %d times; the test did not exercise resumption", cutter.cut.Load(), cutter.resumed.Load())
	}
	want := []string{"triaged", "escalated: refund over limit", "resolved"}
	for deadline := time.After(5 * time.Second); ; {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) {
			break
		}
		select {
		case msg := <-progress:
			mu.Lock()
			got = append(got, msg)
			mu.Unlock()
		case <-deadline:
			t.Fatalf("progress = %q, want %q", got, want)
		}
	}
	// Nothing more may arrive: every event exactly once.
	select {
	case extra := <-progress:
		t.Errorf("a progress event arrived twice or extra: %q", extra)
	case <-time.After(100 * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("progress = %q, want %q", got, want)
	}
}
