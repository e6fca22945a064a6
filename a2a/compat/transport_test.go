package compat

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/push"
)

// wireLog records the JSON-RPC method and A2A-Version of each request.
type wireLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *wireLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		l.mu.Lock()
		l.calls = append(l.calls, r.Header.Get(HeaderVersion)+" "+peekMethod(b))
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// TestTransport10WithA2AGo: an a2a-go client, through NewTransport10, talks
// 1.0 on the wire to a 1.0 endpoint (here: Middleware in front of an a2a-go
// server), and gets what it would get from a 0.3 server.
func TestTransport10WithA2AGo(t *testing.T) {
	gate := make(chan struct{})
	h := a2asrv.NewHandler(&echoExecutor{gate: gate}, a2asrv.WithPushNotifications(push.NewInMemoryStore(), push.NewHTTPPushSender(nil)))
	var log wireLog
	srv := httptest.NewServer(log.wrap(Middleware(a2asrv.NewJSONRPCHandler(h))))
	defer srv.Close()

	ctx := t.Context()
	client, err := a2aclient.NewFromEndpoints(ctx,
		[]a2a.AgentInterface{{URL: srv.URL, Transport: a2a.TransportProtocolJSONRPC}},
		a2aclient.WithJSONRPCTransport(&http.Client{Transport: NewTransport10(nil)}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Destroy()

	// streaming: events arrive one by one, translated back to 0.3
	msg := a2a.NewMessage(a2a.MessageRoleUser,
		a2a.TextPart{Text: "hello"},
		a2a.DataPart{Data: map[string]any{"tool": "get_ticket", "arguments": map[string]any{"id": "T-1"}}},
		a2a.FilePart{File: a2a.FileURI{URI: "https://example.com/x.png", FileMeta: a2a.FileMeta{MimeType: "image/png", Name: "x.png"}}},
		a2a.FilePart{File: a2a.FileBytes{Bytes: "aGk=", FileMeta: a2a.FileMeta{MimeType: "text/plain"}}})
	var kinds []string
	var taskID a2a.TaskID
	var echoed []a2a.Part
	for ev, err := range client.SendStreamingMessage(ctx, &a2a.MessageSendParams{Message: msg}) {
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case *a2a.Task:
			kinds = append(kinds, "task:"+string(e.Status.State))
			taskID = e.ID
		case *a2a.TaskStatusUpdateEvent:
			kinds = append(kinds, "status:"+string(e.Status.State))
			if e.Final != e.Status.State.Terminal() {
				t.Errorf("final %v for %s", e.Final, e.Status.State)
			}
		case *a2a.TaskArtifactUpdateEvent:
			kinds = append(kinds, "artifact")
			echoed = e.Artifact.Parts
		default:
			t.Fatalf("unexpected event %T", ev)
		}
		if ev.TaskInfo().TaskID != "" && len(kinds) < 4 {
			go func() { gate <- struct{}{} }()
		}
	}
	if got := strings.Join(kinds, " "); got != "task:submitted status:working artifact status:completed" {
		t.Errorf("events: %s", got)
	}
	want, _ := jsonOf(msg.Parts)
	got, _ := jsonOf(echoed)
	sameJSON(t, "parts through 0.3 → 1.0 → 0.3 → a2a-go → 0.3 → 1.0 → 0.3", got, want)

	// blocking send, get, cancel error
	res, err := client.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "reply-with-message"})})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := res.(*a2a.Message); !ok || m.Role != a2a.MessageRoleAgent || len(m.Parts) != 2 {
		t.Errorf("SendMessage: %#v", res)
	}
	task, err := client.GetTask(ctx, &a2a.TaskQueryParams{ID: taskID})
	if err != nil || task.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("GetTask: %v %v", task, err)
	}
	if _, err := client.CancelTask(ctx, &a2a.TaskIDParams{ID: taskID}); !errors.Is(err, a2a.ErrTaskNotCancelable) {
		t.Errorf("CancelTask of a completed task: %v", err)
	}
	if _, err := client.GetTask(ctx, &a2a.TaskQueryParams{ID: "nope"}); !errors.Is(err, a2a.ErrTaskNotFound) {
		t.Errorf("GetTask of an unknown task: %v", err)
	}

	// push configs
	cfg := &a2a.TaskPushConfig{TaskID: taskID, Config: a2a.PushConfig{ID: "cfg-1", URL: "https://hooks.example.com/a2a", Token: "tok",
		Auth: &a2a.PushAuthInfo{Schemes: []string{"Bearer"}, Credentials: "secret"}}}
	saved, err := client.SetTaskPushConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, saved), mustJSON(t, cfg); a != b {
		t.Errorf("SetTaskPushConfig: %s, want %s", a, b)
	}
	if got, err := client.GetTaskPushConfig(ctx, &a2a.GetTaskPushConfigParams{TaskID: taskID, ConfigID: "cfg-1"}); err != nil || mustJSON(t, got) != mustJSON(t, cfg) {
		t.Errorf("GetTaskPushConfig: %v %v", got, err)
	}
	if l, err := client.ListTaskPushConfig(ctx, &a2a.ListTaskPushConfigParams{TaskID: taskID}); err != nil || len(l) != 1 {
		t.Errorf("ListTaskPushConfig: %v %v", l, err)
	}
	if err := client.DeleteTaskPushConfig(ctx, &a2a.DeleteTaskPushConfigParams{TaskID: taskID, ConfigID: "cfg-1"}); err != nil {
		t.Errorf("DeleteTaskPushConfig: %v", err)
	}
	if l, err := client.ListTaskPushConfig(ctx, &a2a.ListTaskPushConfigParams{TaskID: taskID}); err != nil || len(l) != 0 {
		t.Errorf("ListTaskPushConfig after delete: %v %v", l, err)
	}

	log.mu.Lock()
	defer log.mu.Unlock()
	for _, c := range log.calls {
		v, m, _ := strings.Cut(c, " ")
		if v != "1.0" || !isMethod10(m) {
			t.Errorf("not 1.0 on the wire: %q", c)
		}
	}
	if len(log.calls) != 10 {
		t.Errorf("%d calls on the wire: %v", len(log.calls), log.calls)
	}
}

func jsonOf(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := jsonEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonOf(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTransport10PassThrough: what is not a 0.3 JSON-RPC POST is not touched.
func TestTransport10PassThrough(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.Header.Get(HeaderVersion)+" "+string(b))
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c := &http.Client{Transport: NewTransport10(nil)}
	if _, err := c.Get(srv.URL); err != nil {
		t.Fatal(err)
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}`
	resp, err := c.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || len(got) != 2 || got[1] != "POST  "+body {
		t.Errorf("%q %q", b, got)
	}
	// a 0.3 request whose params cannot be translated fails before the wire
	_, err = c.Post(srv.URL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m","role":"user","parts":[{"kind":"hologram"}]}}}`))
	if err == nil || AsError(errors.Unwrap(err)).Code != CodeInvalidParams {
		t.Errorf("untranslatable request: %v", err)
	}
}
