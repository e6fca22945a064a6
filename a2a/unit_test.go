package a2a

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	grpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestParseToolRequest(t *testing.T) {
	msg := func(parts ...*a2ago.Part) *a2ago.Message { return a2ago.NewMessage(a2ago.MessageRoleUser, parts...) }
	data := func(d map[string]any) *a2ago.Part { return a2ago.NewDataPart(d) }
	text := a2ago.NewTextPart
	tests := []struct {
		name    string
		msg     *a2ago.Message
		want    ToolRequest
		wantErr string
	}{
		{"data part", msg(data(map[string]any{"tool": "get_ticket", "arguments": map[string]any{"ticket_id": "T-1"}})),
			ToolRequest{"get_ticket", map[string]any{"ticket_id": "T-1"}}, ""},
		{"no arguments", msg(data(map[string]any{"tool": "get_status"})), ToolRequest{"get_status", map[string]any{}}, ""},
		{"null arguments", msg(data(map[string]any{"tool": "get_status", "arguments": nil})), ToolRequest{"get_status", map[string]any{}}, ""},
		{"first data part with a tool", msg(text("please"), data(map[string]any{"x": 1.0}),
			data(map[string]any{"tool": "a"}), data(map[string]any{"tool": "b"})), ToolRequest{"a", map[string]any{}}, ""},
		{"JSON text", msg(text(` {"tool":"get_ticket","arguments":{"ticket_id":"T-2"}}`)), ToolRequest{"get_ticket", map[string]any{"ticket_id": "T-2"}}, ""},
		{"data wins over text", msg(text(`{"tool":"a"}`), data(map[string]any{"tool": "b"})), ToolRequest{"b", map[string]any{}}, ""},
		{"nil part skipped", msg(nil, data(map[string]any{"tool": "a"})), ToolRequest{"a", map[string]any{}}, ""},
		{"plain text", msg(text("get me ticket T-1")), ToolRequest{}, "no tool call"},
		{"JSON text without a tool", msg(text(`{"x": 1}`)), ToolRequest{}, "no tool call"},
		{"no parts", msg(), ToolRequest{}, "no tool call"},
		{"nil message", nil, ToolRequest{}, "no tool call"},
		{"tool not a string", msg(data(map[string]any{"tool": 7.0})), ToolRequest{}, "non-empty string"},
		{"empty tool", msg(data(map[string]any{"tool": ""})), ToolRequest{}, "non-empty string"},
		{"arguments a list", msg(data(map[string]any{"tool": "x", "arguments": []any{1.0}})), ToolRequest{}, "must be a JSON object, not an array"},
		{"arguments a string", msg(data(map[string]any{"tool": "x", "arguments": "T-1"})), ToolRequest{}, "must be a JSON object, not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseToolRequest(tt.msg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseToolRequest (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGRPCMethod(t *testing.T) {
	tests := []struct{ full, want string }{
		{"/lf.a2a.v1.A2AService/SendMessage", "SendMessage"},
		{"/lf.a2a.v1.A2AService/SendStreamingMessage", "SendStreamingMessage"},
		{"/lf.a2a.v1.A2AService/ListTasks", "ListTasks"},
		{"/lf.a2a.v1.A2AService/SubscribeToTask", "SubscribeToTask"},
		{"/a2a.v1.A2AService/SendMessage", "message/send"},
		{"/a2a.v1.A2AService/SendStreamingMessage", "message/stream"},
		{"/a2a.v1.A2AService/GetTask", "tasks/get"},
		{"/a2a.v1.A2AService/ListTasks", "tasks/list"},
		{"/a2a.v1.A2AService/CancelTask", "tasks/cancel"},
		{"/a2a.v1.A2AService/TaskSubscription", "tasks/resubscribe"},
		{"/a2a.v1.A2AService/CreateTaskPushNotificationConfig", "tasks/pushNotificationConfig/set"},
		{"/a2a.v1.A2AService/GetTaskPushNotificationConfig", "tasks/pushNotificationConfig/get"},
		{"/a2a.v1.A2AService/ListTaskPushNotificationConfig", "tasks/pushNotificationConfig/list"},
		{"/a2a.v1.A2AService/DeleteTaskPushNotificationConfig", "tasks/pushNotificationConfig/delete"},
		{"/a2a.v1.A2AService/GetAgentCard", "agent/getAuthenticatedExtendedCard"},
		{"/a2a.v1.A2AService/NoSuchMethod", ""},
		{"/grpc.health.v1.Health/Check", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := GRPCMethod(tt.full); got != tt.want {
			t.Errorf("GRPCMethod(%q) = %q, want %q", tt.full, got, tt.want)
		}
	}
}

func TestRESTMethod(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"POST", "/message:send", "SendMessage"},
		{"POST", "/message:stream", "SendStreamingMessage"},
		{"GET", "/tasks", "ListTasks"},
		{"GET", "/extendedAgentCard", "GetExtendedAgentCard"},
		{"GET", "/tasks/t-1", "GetTask"},
		{"POST", "/tasks/t-1:cancel", "CancelTask"},
		{"POST", "/tasks/t-1:subscribe", "SubscribeToTask"},
		{"GET", "/tasks/t-1:subscribe", "SubscribeToTask"},
		{"POST", "/tasks/t-1/pushNotificationConfigs", "CreateTaskPushNotificationConfig"},
		{"GET", "/tasks/t-1/pushNotificationConfigs", "ListTaskPushNotificationConfigs"},
		{"GET", "/tasks/t-1/pushNotificationConfigs/c-1", "GetTaskPushNotificationConfig"},
		{"DELETE", "/tasks/t-1/pushNotificationConfigs/c-1", "DeleteTaskPushNotificationConfig"},
		{"POST", "/v1/message:send", "message/send"},
		{"POST", "/v1/message:stream", "message/stream"},
		{"GET", "/v1/tasks", "tasks/list"},
		{"GET", "/v1/card", "agent/getAuthenticatedExtendedCard"},
		{"GET", "/v1/tasks/t-1", "tasks/get"},
		{"POST", "/v1/tasks/t-1:cancel", "tasks/cancel"},
		{"GET", "/v1/tasks/t-1:subscribe", "tasks/resubscribe"},
		{"POST", "/v1/tasks/t-1/pushNotificationConfigs", "tasks/pushNotificationConfig/set"},
		{"GET", "/v1/tasks/t-1/pushNotificationConfigs", "tasks/pushNotificationConfig/list"},
		{"GET", "/v1/tasks/t-1/pushNotificationConfigs/c-1", "tasks/pushNotificationConfig/get"},
		{"DELETE", "/v1/tasks/t-1/pushNotificationConfigs/c-1", "tasks/pushNotificationConfig/delete"},
		{"GET", "/card", ""}, // 1.0 names it extendedAgentCard
		{"GET", "/message:send", ""},
		{"DELETE", "/tasks/t-1", ""},
		{"GET", "/nothing", ""},
		{"GET", "/", ""},
	}
	for _, tt := range tests {
		if got := RESTMethod(tt.method, tt.path); got != tt.want {
			t.Errorf("RESTMethod(%s, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

// newBareServer is the face over fakeTools and an in-memory store, gRPC
// bound on a free loopback port, not yet running.
func newBareServer(t *testing.T, opts Options) *Server {
	t.Helper()
	tasks := newOwnedTasks()
	if opts.Tools == nil {
		opts.Tools = fakeTools{}
	}
	opts.Tasks, opts.Owner, opts.PublicURL, opts.GRPCListen = tasks, tasks.Owner, "http://127.0.0.1", "127.0.0.1:0"
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Bound before Run: connections made from here on wait in the backlog
	// until Run accepts them, so none needs a readiness signal.
	if err := srv.ListenGRPC(t.Context()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestGRPCConnectionLimits: the gRPC listener holds at most the
// connections it is allowed, in total and per client, as the HTTP server
// does: with N held, the N+1th is closed at once.
func TestGRPCConnectionLimits(t *testing.T) {
	const n = 3
	tests := []struct {
		name string
		opts Options
	}{
		{"total", Options{MaxConns: n, MaxConnsPerClient: -1}},
		{"per client", Options{MaxConns: -1, MaxConnsPerClient: n}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newBareServer(t, tt.opts)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			var held []net.Conn
			t.Cleanup(func() {
				for _, c := range held {
					c.Close()
				}
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			})
			for i := range n {
				c, err := http2Handshake(t, srv.GRPCTarget())
				if err != nil {
					t.Fatalf("connection %d of %d allowed: %v", i+1, n, err)
				}
				held = append(held, c)
			}
			c, err := http2Handshake(t, srv.GRPCTarget())
			if err == nil {
				held = append(held, c)
				t.Fatalf("connection %d was served with %d held and a limit of %d", n+1, n, n)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection %d was held open, unanswered, rather than closed: %v", n+1, err)
			}
		})
	}
}

// http2Handshake opens a connection to a gRPC server and does the HTTP/2
// handshake's first step: it sends the client preface and its settings and
// reads the server's settings frame, which the server sends only once it
// has accepted the connection and means to serve it. It returns the open
// connection, or why the server would not.
func http2Handshake(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	// A bound on a failure, not a wait for readiness: an accepted
	// connection answers at once.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00" // + an empty SETTINGS frame
	if _, err := io.WriteString(c, preface); err != nil {
		c.Close()
		return nil, err
	}
	var header [9]byte
	if _, err := io.ReadFull(c, header[:]); err != nil {
		c.Close()
		return nil, err
	}
	if header[3] != 0x4 {
		c.Close()
		return nil, errors.New("the server's first frame is not SETTINGS")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
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
			tools := blockingTools{release: make(chan struct{})}
			var once sync.Once
			release := func() { once.Do(func() { close(tools.release) }) }
			defer release()
			srv := newBareServer(t, Options{Tools: tools, ShutdownTimeout: tt.timeout})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()

			conn, err := grpc.NewClient(srv.GRPCTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			events := grpcv1.NewGRPCTransport(conn).SendStreamingMessage(t.Context(), nil, &a2ago.SendMessageRequest{
				Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewDataPart(map[string]any{"tool": "echo"}))})
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
			want := []string{string(a2ago.TaskStateSubmitted), string(a2ago.TaskStateWorking), string(a2ago.TaskStateCompleted)}
			if diff := cmp.Diff(want, states); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}
