package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/store"
)

// post sends body to url with the given headers and returns the answer's
// status and body.
func post(t *testing.T, url string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(raw)
}

func rpcBody(method string, params any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "e1", "method": method, "params": params})
	return string(b)
}

var v10 = map[string]string{"A2A-Version": "1.0"}

func TestMapError(t *testing.T) {
	grpcErr := status.Error(codes.PermissionDenied, "no")
	tests := []struct {
		name    string
		err     error
		is      error
		keep    bool // passed through unchanged
		message string
		hidden  string // must not be said
	}{
		{"nil", nil, nil, true, "", ""},
		// The SDK wraps these in its own steps: the kind's words are said.
		{"a2a error", fmt.Errorf("failed to cancel: canceler setup failed: %w", a2ago.ErrTaskNotFound), a2ago.ErrTaskNotFound, false,
			"task not found", "setup failed"},
		// These say what was wrong with the request: said, bounded.
		{"a2a error on input", fmt.Errorf("message: parts: %w", a2ago.ErrInvalidParams), a2ago.ErrInvalidParams, false, "message: parts: invalid params", ""},
		{"a2a error on input with a long value", fmt.Errorf("id %s: %w", strings.Repeat("k", 1000), a2ago.ErrInvalidParams), a2ago.ErrInvalidParams, false,
			strings.Repeat("k", compat.MaxEchoRunes) + "…", strings.Repeat("k", compat.MaxEchoRunes+1)},
		{"internal a2a error", fmt.Errorf("pq: relation missing: %w", a2ago.ErrInternalError), a2ago.ErrInternalError, false,
			"the gateway failed to handle the request", "pq"},
		{"grpc status", grpcErr, nil, true, "no", ""},
		{"store not found", fmt.Errorf("get: %w", store.ErrNotFound), a2ago.ErrTaskNotFound, false, "task not found", "get:"},
		{"store unavailable", fmt.Errorf("sqlite: %w", store.ErrUnavailable), a2ago.ErrServerError, false, "store is unavailable", "sqlite"},
		{"cancelled", fmt.Errorf("save: %w", context.Canceled), a2ago.ErrInternalError, false, "ended before it finished", "save"},
		{"deadline", fmt.Errorf("save: %w", context.DeadlineExceeded), a2ago.ErrInternalError, false, "took too long", "save"},
		{"anything else", errors.New("disk on fire"), a2ago.ErrInternalError, false, "the gateway failed to handle the request", "disk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MapError(tt.err)
			if tt.keep && got != tt.err {
				t.Errorf("MapError changed %v to %v", tt.err, got)
			}
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("MapError(%v) = %v, want it to be %v", tt.err, got, tt.is)
			}
			if tt.err != nil && !strings.Contains(got.Error(), tt.message) {
				t.Errorf("MapError(%.80v) = %q, want it to say %q", tt.err, got, tt.message)
			}
			if tt.hidden != "" && strings.Contains(got.Error(), tt.hidden) {
				t.Errorf("MapError(%.80v) = %.200q, which says %q", tt.err, got, tt.hidden)
			}
		})
	}
	// Cancellation stays recognisable, so that gRPC reports Canceled.
	if !errors.Is(MapError(context.Canceled), context.Canceled) {
		t.Error("mapped cancellation lost context.Canceled")
	}
	// Mapping twice changes nothing.
	once := MapError(errors.New("disk on fire"))
	if twice := MapError(once); twice != once {
		t.Errorf("MapError of a mapped error = %v, want it unchanged", twice)
	}
}

// brokenTasks is a task store whose every operation fails with an error
// a2a-go does not know, as a database's would.
type brokenTasks struct{}

var errDisk = errors.New("disk on fire at /var/lib/parley")

func (brokenTasks) Create(context.Context, *a2ago.Task) (taskstore.TaskVersion, error) {
	return taskstore.TaskVersionMissing, errDisk
}

func (brokenTasks) Update(context.Context, *taskstore.UpdateRequest) (taskstore.TaskVersion, error) {
	return taskstore.TaskVersionMissing, errDisk
}

func (brokenTasks) Get(context.Context, a2ago.TaskID) (*taskstore.StoredTask, error) {
	return nil, errDisk
}

func (brokenTasks) List(context.Context, *a2ago.ListTasksRequest) (*a2ago.ListTasksResponse, error) {
	return nil, errDisk
}

// logSink collects log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
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

// TestErrorsAreMappedAndLogged: a failure of the server's own code (its
// task store, the owner lookup) reaches the client as an A2A internal
// error saying the gateway failed, on every binding in both versions,
// without its detail (a database's words are not the caller's); the
// detail is logged.
func TestErrorsAreMappedAndLogged(t *testing.T) {
	owners := []struct {
		name  string
		owner Owner
	}{
		{"the store fails", func(context.Context, string) (string, error) { return "", store.ErrNotFound }},
		{"the owner lookup fails", func(context.Context, string) (string, error) { return "", errDisk }},
	}
	for _, o := range owners {
		t.Run(o.name, func(t *testing.T) {
			logs := &logSink{}
			g := startGateway(t, func(opts *Options) {
				opts.Tasks = brokenTasks{}
				opts.Owner = o.owner
				opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			for _, b := range bindings {
				t.Run(b.name, func(t *testing.T) {
					_, err := g.client(t, b, "alice").GetTask(t.Context(), &a2ago.GetTaskRequest{ID: "task-1"})
					if !errors.Is(err, a2ago.ErrInternalError) && status.Code(err) != codes.Internal {
						t.Errorf("GetTask = %v, want an internal error", err)
					}
					if err != nil && strings.Contains(err.Error(), "disk") {
						t.Errorf("GetTask = %v, which carries the store's words", err)
					}
				})
			}
			t.Run("JSON-RPC on the wire", func(t *testing.T) {
				for _, tc := range []struct {
					header map[string]string
					method string
				}{{nil, "tasks/get"}, {v10, "GetTask"}} {
					_, body := post(t, g.http.URL+JSONRPCPath, tc.header, rpcBody(tc.method, map[string]any{"id": "task-1"}))
					if !strings.Contains(body, "-32603") || !strings.Contains(body, "the gateway failed") || strings.Contains(body, "disk") {
						t.Errorf("%s answer %s; want -32603 saying the gateway failed, without the detail", tc.method, body)
					}
				}
			})
			t.Run("REST on the wire", func(t *testing.T) {
				for _, path := range []string{RESTPath + "/tasks/task-1", RESTPath + "/v1/tasks/task-1"} {
					req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, g.http.URL+path, nil)
					code, body := do(t, req)
					if code != http.StatusInternalServerError || !strings.Contains(body, "the gateway failed") || strings.Contains(body, "disk") {
						t.Errorf("GET %s: %d %s; want 500 saying the gateway failed, without the detail", path, code, body)
					}
				}
			})
			if !strings.Contains(logs.String(), "disk on fire") {
				t.Errorf("the failure was not logged:\n%s", logs)
			}
		})
	}
}

// TestErrorsAreBounded: a task id of 100 KB is never echoed whole (at
// most as its first 64 characters and "…"), on every binding; an error
// says what was wrong in the caller's terms: a params type error names the
// member, not Go's types, and "task not found" comes without the SDK's
// chain of internal steps ("canceler setup failed: failed to load a
// task").
func TestErrorsAreBounded(t *testing.T) {
	g := startGateway(t)
	long := strings.Repeat("k", 100<<10)
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			c := g.client(t, b, "alice")
			for _, call := range ownedCalls[:2] { // get and cancel
				err := call.call(t.Context(), c, a2ago.TaskID(long))
				if !isNotFound(err) {
					t.Errorf("%s of a 100 KB id: %.200v, want task not found", call.name, err)
				}
				if err != nil && len(err.Error()) > 4<<10 {
					t.Errorf("%s: error of %d bytes: the id was echoed whole", call.name, len(err.Error()))
				}
				if err != nil && strings.Contains(err.Error(), "setup failed") {
					t.Errorf("%s: error %q tells the SDK's internal steps", call.name, err)
				}
			}
		})
	}
	tests := []struct {
		name   string
		header map[string]string
		method string
		params map[string]any
		want   []string
	}{
		{"0.3 get", nil, "tasks/get", map[string]any{"id": long}, []string{"-32001", "task not found"}},
		{"1.0 get", v10, "GetTask", map[string]any{"id": long}, []string{"-32001", "task not found"}},
		{"0.3 cancel", nil, "tasks/cancel", map[string]any{"id": long}, []string{"-32001", "task not found"}},
		{"1.0 cancel", v10, "CancelTask", map[string]any{"id": long}, []string{"-32001", "task not found"}},
		{"0.3 get, id of the wrong type", nil, "tasks/get", map[string]any{"id": 7}, []string{"-32602", "id"}},
		{"1.0 get, id of the wrong type", v10, "GetTask", map[string]any{"id": 7}, []string{"-32602", "id"}},
	}
	for _, tt := range tests {
		t.Run("JSON-RPC "+tt.name, func(t *testing.T) {
			_, body := post(t, g.http.URL+JSONRPCPath, tt.header, rpcBody(tt.method, tt.params))
			if len(body) > 4<<10 {
				t.Fatalf("answer of %d bytes: the id was echoed whole (%.200s…)", len(body), body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("answer %s does not say %q", body, w)
				}
			}
			for _, leak := range []string{"Go struct", "a2a.TaskID", "json: cannot", strings.Repeat("k", compat.MaxEchoRunes+1),
				"setup failed", "failed to load"} {
				if strings.Contains(body, leak) {
					t.Errorf("answer %.300s carries %.70q", body, leak)
				}
			}
		})
	}
}

// TestBodyLimit: the HTTP bindings refuse a body over the limit they are
// given, whether or not its length was announced, without running it.
func TestBodyLimit(t *testing.T) {
	const limit = 1024
	g := startGateway(t, func(o *Options) { o.MaxBodyBytes = limit })
	big := strings.Repeat("x", 4*limit)
	small := "hi"
	msg03 := func(text string) string {
		return `{"messageId":"m1","role":"user","parts":[{"kind":"text","text":"` + text + `"}]}`
	}
	msg10 := func(text string) string {
		return `{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"` + text + `"}]}`
	}
	type request struct {
		name   string
		path   string
		header map[string]string
		body   func(text string) string
	}
	requests := []request{
		{"JSON-RPC 0.3", JSONRPCPath, nil, func(s string) string {
			return `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":` + msg03(s) + `}}`
		}},
		{"JSON-RPC 1.0", JSONRPCPath, v10, func(s string) string {
			return `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":` + msg10(s) + `}}`
		}},
		{"REST 1.0", RESTPath + "/message:send", v10, func(s string) string { return `{"message":` + msg10(s) + `}` }},
		{"REST 0.3", RESTPath + "/v1/message:send", nil, func(s string) string {
			return `{"message":{"messageId":"m1","role":"ROLE_USER","content":[{"text":"` + s + `"}]}}`
		}},
	}
	for _, r := range requests {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s chunked=%v", r.name, chunked), func(t *testing.T) {
				send := func(text string) (int, string) {
					var body io.Reader = strings.NewReader(r.body(text))
					if chunked {
						body = io.MultiReader(body) // no length known: sent chunked
					}
					req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.http.URL+r.path, body)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", "application/json")
					for k, v := range r.header {
						req.Header.Set(k, v)
					}
					return do(t, req)
				}
				// Within the limit: a task (rejected, as "hi" names no tool).
				if code, body := send(small); code != http.StatusOK || !strings.Contains(body, "no tool call") {
					t.Fatalf("a body within the limit: %d %.300s", code, body)
				}
				code, body := send(big)
				shown := body[:min(len(body), 300)]
				if strings.Contains(body, "no tool call") || strings.Contains(body, big) {
					t.Errorf("a body over the limit was run: %d %s", code, shown)
				}
				switch {
				case !chunked && code != http.StatusRequestEntityTooLarge:
					t.Errorf("a body over the limit: %d %s; want 413", code, shown)
				case chunked && !strings.Contains(body, "-32700") && code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge:
					t.Errorf("a chunked body over the limit: %d %s; want it refused", code, shown)
				}
			})
		}
	}
}

// TestBodyLimitIsNamed: a caller whose body is over the limit is told so,
// in its protocol's shape and naming the limit, as the legacy face did
// (issue 10, finding 9); not "parse error: EOF", nor Go's "http: request
// body too large".
func TestBodyLimitIsNamed(t *testing.T) {
	const limit = 1024
	g := startGateway(t, func(o *Options) { o.MaxBodyBytes = limit })
	big := strings.Repeat("x", 4*limit)
	for _, tc := range []struct {
		name    string
		header  map[string]string
		method  string
		chunked bool
	}{
		{"0.3", nil, "message/send", false},
		{"0.3 chunked", nil, "message/send", true},
		{"1.0", v10, "SendMessage", false},
		{"1.0 chunked", v10, "SendMessage", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(rpcBody(tc.method, map[string]any{"message": map[string]any{"messageId": "m", "text": big}}))
			if tc.chunked {
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, g.http.URL+JSONRPCPath, body)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			_, answer := do(t, req)
			var rpc struct {
				Error *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(answer), &rpc); err != nil || rpc.Error == nil ||
				!strings.Contains(rpc.Error.Message, fmt.Sprint(limit)) {
				t.Errorf("answer %.300s; want a JSON-RPC error naming the limit of %d bytes", answer, limit)
			}
		})
	}
}

// TestREST03ErrorAnswer: the A2A 0.3 REST binding answers an unknown task
// as 404 with the TASK_NOT_FOUND reason (a2a-go v2.4.0's own 0.3 REST
// client cannot read it: see problemAsJSON).
func TestREST03ErrorAnswer(t *testing.T) {
	g := startGateway(t)
	for _, path := range []string{RESTPath + "/v1/tasks/no-such-task", RESTPath + "/tasks/no-such-task"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, g.http.URL+path, nil)
		code, body := do(t, req)
		if code != http.StatusNotFound || !strings.Contains(body, `"TASK_NOT_FOUND"`) {
			t.Errorf("GET %s: %d %s; want 404 TASK_NOT_FOUND", path, code, body)
		}
	}
}
