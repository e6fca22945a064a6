package a2a_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// fakeTools is a ToolCaller with one tool, for tests that need no MCP.
type fakeTools struct{}

func (fakeTools) CallTool(_ context.Context, name string, _ map[string]any) (*mcp.CallToolResult, error) {
	if name != "echo" {
		return nil, fmt.Errorf("unknown tool %q", name)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo"}}}, nil
}

func (fakeTools) ListTools(context.Context) ([]*mcp.Tool, error) {
	return []*mcp.Tool{{Name: "echo", Description: "Echo. Says it back."}}, nil
}

func TestParseToolRequest(t *testing.T) {
	msg := func(parts ...a2ago.Part) *a2ago.Message { return a2ago.NewMessage(a2ago.MessageRoleUser, parts...) }
	tests := []struct {
		name     string
		msg      *a2ago.Message
		wantTool string
		wantArgs map[string]any
		wantErr  string
	}{
		{"data part", msg(a2ago.DataPart{Data: map[string]any{"tool": "get_ticket", "arguments": map[string]any{"ticket_id": "T-1"}}}),
			"get_ticket", map[string]any{"ticket_id": "T-1"}, ""},
		{"no arguments", msg(a2ago.DataPart{Data: map[string]any{"tool": "get_status"}}), "get_status", map[string]any{}, ""},
		{"null arguments", msg(a2ago.DataPart{Data: map[string]any{"tool": "get_status", "arguments": nil}}), "get_status", map[string]any{}, ""},
		{"pointer part", msg(&a2ago.DataPart{Data: map[string]any{"tool": "get_status"}}), "get_status", map[string]any{}, ""},
		{"first data part with a tool", msg(a2ago.TextPart{Text: "please"}, a2ago.DataPart{Data: map[string]any{"x": 1}},
			a2ago.DataPart{Data: map[string]any{"tool": "a"}}, a2ago.DataPart{Data: map[string]any{"tool": "b"}}), "a", map[string]any{}, ""},
		{"JSON text", msg(a2ago.TextPart{Text: ` {"tool":"get_ticket","arguments":{"ticket_id":"T-2"}}`}), "get_ticket", map[string]any{"ticket_id": "T-2"}, ""},
		{"data wins over text", msg(a2ago.TextPart{Text: `{"tool":"a"}`}, a2ago.DataPart{Data: map[string]any{"tool": "b"}}), "b", map[string]any{}, ""},
		{"plain text", msg(a2ago.TextPart{Text: "get me ticket T-1"}), "", nil, "no tool call"},
		{"no parts", msg(), "", nil, "no tool call"},
		{"nil message", nil, "", nil, "no tool call"},
		{"tool not a string", msg(a2ago.DataPart{Data: map[string]any{"tool": 7}}), "", nil, "non-empty string"},
		{"empty tool", msg(a2ago.DataPart{Data: map[string]any{"tool": ""}}), "", nil, "non-empty string"},
		{"arguments a list", msg(a2ago.DataPart{Data: map[string]any{"tool": "x", "arguments": []any{1}}}), "", nil, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := a2a.ParseToolRequest(tt.msg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Tool != tt.wantTool || fmt.Sprint(req.Arguments) != fmt.Sprint(tt.wantArgs) {
				t.Errorf("got %+v, want %s %v", req, tt.wantTool, tt.wantArgs)
			}
		})
	}
}

func TestMapError(t *testing.T) {
	grpcErr := status.Error(codes.PermissionDenied, "no")
	tests := []struct {
		name    string
		err     error
		is      error
		keep    bool // passed through unchanged
		message string
	}{
		{"nil", nil, nil, true, ""},
		{"a2a error", fmt.Errorf("task x: %w", a2ago.ErrTaskNotFound), a2ago.ErrTaskNotFound, false, "task x: task not found"},
		{"grpc status", grpcErr, nil, true, "no"},
		{"store not found", fmt.Errorf("get: %w", store.ErrNotFound), a2ago.ErrTaskNotFound, false, "task not found"},
		{"store unavailable", fmt.Errorf("sqlite: %w", store.ErrUnavailable), a2ago.ErrServerError, false, "store is unavailable"},
		{"cancelled", fmt.Errorf("save: %w", context.Canceled), a2ago.ErrInternalError, false, "ended before it finished"},
		{"anything else", errors.New("disk on fire"), a2ago.ErrInternalError, false, "the gateway failed to handle the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a2a.MapError(tt.err)
			if tt.keep && got != tt.err {
				t.Errorf("MapError changed %v to %v", tt.err, got)
			}
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("MapError(%v) = %v, want it to be %v", tt.err, got, tt.is)
			}
			if tt.err != nil && !strings.Contains(got.Error(), tt.message) {
				t.Errorf("MapError(%v) = %q, want it to say %q", tt.err, got, tt.message)
			}
		})
	}
	// Cancellation stays recognisable, so that gRPC reports Canceled.
	if !errors.Is(a2a.MapError(context.Canceled), context.Canceled) {
		t.Error("mapped cancellation lost context.Canceled")
	}
}

// brokenTasks is a store whose reads fail with an error a2a-go does not
// know.
type brokenTasks struct{}

func (brokenTasks) SaveA2ATask(context.Context, string, string, string, string, []byte, time.Time) error {
	return errors.New("disk on fire")
}

func (brokenTasks) GetA2ATask(context.Context, string) (store.A2ATask, error) {
	return store.A2ATask{}, errors.New("disk on fire")
}

func (brokenTasks) ListA2ATasks(context.Context, store.A2ATaskFilter) ([]store.A2ATask, bool, error) {
	return nil, false, errors.New("disk on fire")
}

// logSink collects log lines.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestErrorsAreMappedAndLogged: a failure of the server's own code reaches
// the client as an A2A internal error saying the gateway failed, on both
// bindings, without its detail (a database's words are not the caller's);
// the detail is logged.
func TestErrorsAreMappedAndLogged(t *testing.T) {
	logs := &logSink{}
	srv, err := a2a.NewServer(a2a.Options{Tools: fakeTools{}, Tasks: brokenTasks{}, PublicURL: "http://127.0.0.1:1",
		GRPCListen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	if err := srv.ListenGRPC(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	t.Run("JSON-RPC", func(t *testing.T) {
		body := `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"task-1"}}`
		resp, err := http.Post(hs.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Error struct {
				Code    int            `json:"code"`
				Message string         `json:"message"`
				Data    map[string]any `json:"data"`
			} `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if detail := fmt.Sprint(out.Error.Data["error"]); out.Error.Code != -32603 ||
			!strings.Contains(detail, "the gateway failed") || strings.Contains(detail, "disk on fire") {
			t.Errorf("error = %+v, want -32603 saying the gateway failed, without the detail", out.Error)
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		conn, err := grpc.NewClient(srv.GRPCTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = a2aclient.NewGRPCTransport(conn).GetTask(t.Context(), &a2ago.TaskQueryParams{ID: "task-1"})
		if st, _ := status.FromError(err); st.Code() != codes.Internal ||
			!strings.Contains(st.Message(), "the gateway failed") || strings.Contains(st.Message(), "disk on fire") {
			t.Errorf("error = %v, want Internal saying the gateway failed, without the detail", err)
		}
	})
	if !strings.Contains(logs.String(), "a2a call failed") || !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the failure was not logged:\n%s", logs)
	}
}

// blockingTools holds every call until release is closed, or the call's
// context ends.
type blockingTools struct {
	fakeTools
	release chan struct{}
}

func (b blockingTools) CallTool(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return b.fakeTools.CallTool(ctx, name, args)
}

// TestGRPCShutdown: Run lets an in-flight stream finish, and cuts it when
// it outlasts the shutdown timeout.
func TestGRPCShutdown(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		finish  bool // release the tool call after the shutdown starts
		wantErr bool
	}{
		{"graceful", time.Minute, true, false},
		{"timeout", 50 * time.Millisecond, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tools := blockingTools{release: make(chan struct{})}
			var once sync.Once
			release := func() { once.Do(func() { close(tools.release) }) }
			defer release()
			srv, err := a2a.NewServer(a2a.Options{Tools: tools, Tasks: st, PublicURL: "http://127.0.0.1:1",
				GRPCListen: "127.0.0.1:0", ShutdownTimeout: tt.timeout})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.ListenGRPC(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()

			conn, err := grpc.NewClient(srv.GRPCTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			events := a2aclient.NewGRPCTransport(conn).SendStreamingMessage(t.Context(), &a2ago.MessageSendParams{
				Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.DataPart{Data: map[string]any{"tool": "echo"}})})
			var states []string
			var streamErr error
			for ev, err := range events {
				if err != nil {
					streamErr = err
					break
				}
				switch ev := ev.(type) {
				case *a2ago.Task:
					states = append(states, string(ev.Status.State))
				case *a2ago.TaskStatusUpdateEvent:
					states = append(states, string(ev.Status.State))
					if ev.Status.State == a2ago.TaskStateWorking {
						// The call is in flight: shut down now.
						cancel()
						if tt.finish {
							release()
						}
					}
				}
			}
			runErr := <-done
			if tt.wantErr {
				if !errors.Is(runErr, context.DeadlineExceeded) {
					t.Errorf("Run = %v, want a drain timeout", runErr)
				}
				if streamErr == nil {
					t.Errorf("stream was not cut: %v", states)
				}
				return
			}
			if runErr != nil || streamErr != nil {
				t.Errorf("Run = %v, stream error %v; want a clean drain", runErr, streamErr)
			}
			if want := []string{"submitted", "working", "completed"}; !slices.Equal(states, want) {
				t.Errorf("states = %v, want %v", states, want)
			}
		})
	}
}
