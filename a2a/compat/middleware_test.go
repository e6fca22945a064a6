package compat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/a2asrv/push"
)

// echoExecutor is a trivial a2a-go agent: it answers "reply-with-message" with
// a message and anything else with a task that goes submitted → working →
// artifact (the user's parts, echoed) → completed. With a gate, it waits for
// the test between events.
type echoExecutor struct {
	gate chan struct{}
}

func (e *echoExecutor) wait(ctx context.Context) error {
	if e.gate == nil {
		return nil
	}
	select {
	case <-e.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *echoExecutor) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	msg := rc.Message
	if tp, ok := msg.Parts[0].(a2a.TextPart); ok && tp.Text == "reply-with-message" {
		return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "plain reply"}, a2a.DataPart{Data: map[string]any{"answer": 42}}))
	}
	if rc.StoredTask == nil {
		if err := q.Write(ctx, a2a.NewSubmittedTask(rc, msg)); err != nil {
			return err
		}
	}
	if err := e.wait(ctx); err != nil {
		return err
	}
	working := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateWorking, a2a.NewMessageForTask(a2a.MessageRoleAgent, rc, a2a.TextPart{Text: "Working..."}))
	if err := q.Write(ctx, working); err != nil {
		return err
	}
	if err := e.wait(ctx); err != nil {
		return err
	}
	if err := q.Write(ctx, a2a.NewArtifactEvent(rc, msg.Parts...)); err != nil {
		return err
	}
	if err := e.wait(ctx); err != nil {
		return err
	}
	done := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

func (e *echoExecutor) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// newA2AGoServer serves a real a2a-go JSON-RPC handler behind the middleware.
func newA2AGoServer(t *testing.T, exec a2asrv.AgentExecutor, opts Options) *httptest.Server {
	t.Helper()
	extended := &a2a.AgentCard{Name: "echo", Description: "extended", Version: "1", ProtocolVersion: "0.3.0",
		URL: "http://example.invalid/a2a", PreferredTransport: a2a.TransportProtocolJSONRPC,
		Capabilities: a2a.AgentCapabilities{Streaming: true}, SupportsAuthenticatedExtendedCard: true,
		DefaultInputModes: []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
		Skills: []a2a.AgentSkill{{ID: "echo", Name: "Echo", Description: "echoes", Tags: []string{"echo"}}}}
	h := a2asrv.NewHandler(exec,
		a2asrv.WithPushNotifications(push.NewInMemoryStore(), push.NewHTTPPushSender(nil)),
		a2asrv.WithExtendedAgentCard(extended))
	srv := httptest.NewServer(MiddlewareWith(a2asrv.NewJSONRPCHandler(h), opts))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url string, body []byte, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func field(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			o, ok := v.(obj)
			if !ok {
				t.Fatalf("no object at %v", p)
			}
			v = o[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("no element %d", k)
			}
			v = l[k]
		}
	}
	return v
}

// TestMiddlewareA2AGo: a recorded 1.0 SendMessage goes through the middleware
// to a real a2a-go server and comes back as a 1.0 answer; the parts the agent
// echoes survive 1.0 → 0.3 → a2a-go → 0.3 → 1.0 unchanged.
func TestMiddlewareA2AGo(t *testing.T) {
	srv := newA2AGoServer(t, &echoExecutor{}, Options{})
	x := loadExchange(t, "v10.SendMessage.task")
	resp, body := post(t, srv.URL, x.Request.Body, x.Request.Headers)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	v, err := decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if field(t, v, "jsonrpc") != "2.0" || field(t, v, "id").(json.Number) != "1" {
		t.Fatalf("envelope %s", body)
	}
	task := field(t, v, "result", "task")
	if s := field(t, task, "status", "state"); s != "TASK_STATE_COMPLETED" {
		t.Fatalf("state %v in %s", s, body)
	}
	if r := field(t, task, "history", 0, "role"); r != "ROLE_USER" {
		t.Errorf("history role %v", r)
	}
	sent := field(t, mustDecode(t, x.Request.Body), "params", "message", "parts")
	echoed := field(t, task, "artifacts", 0, "parts")
	sameJSON(t, "echoed parts", mustEncode(t, echoed), mustEncode(t, sent))

	// the task is there for a 1.0 GetTask
	id := field(t, task, "id").(string)
	_, body = post(t, srv.URL, []byte(`{"jsonrpc":"2.0","id":"g","method":"GetTask","params":{"id":"`+id+`","historyLength":1}}`), map[string]string{HeaderVersion: "1.0"})
	if s := field(t, mustDecode(t, body), "result", "status", "state"); s != "TASK_STATE_COMPLETED" {
		t.Errorf("GetTask: %s", body)
	}
	// errors come back in 1.0 shape: ErrorInfo with a2a-go's detail
	_, body = post(t, srv.URL, []byte(`{"jsonrpc":"2.0","id":"c","method":"CancelTask","params":{"id":"`+id+`"}}`), map[string]string{HeaderVersion: "1.0"})
	e := mustDecode(t, body)
	if field(t, e, "error", "code").(json.Number) != "-32002" || field(t, e, "error", "data", 0, "reason") != "TASK_NOT_CANCELABLE" {
		t.Errorf("CancelTask of a completed task: %s", body)
	}
	nf := loadExchange(t, "v10.GetTask.notfound")
	_, body = post(t, srv.URL, nf.Request.Body, nf.Request.Headers)
	e = mustDecode(t, body)
	if field(t, e, "error", "code").(json.Number) != "-32001" || field(t, e, "error", "data", 0, "reason") != "TASK_NOT_FOUND" || field(t, e, "id").(json.Number) != "6" {
		t.Errorf("GetTask of an unknown task: %s", body)
	}

	// a message reply
	mx := loadExchange(t, "v10.SendMessage.message")
	_, body = post(t, srv.URL, mx.Request.Body, mx.Request.Headers)
	if r := field(t, mustDecode(t, body), "result", "message", "role"); r != "ROLE_AGENT" {
		t.Errorf("SendMessage → message: %s", body)
	}
}

func mustDecode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := decode(b)
	if err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return v
}

// TestMiddlewareRecordedExchanges: for these recorded 1.0 calls, a2a-go behind
// the middleware answers exactly what the @a2a-js/sdk 1.3.0 server answered.
func TestMiddlewareRecordedExchanges(t *testing.T) {
	srv := newA2AGoServer(t, &echoExecutor{}, Options{})
	for _, name := range []string{
		"v10.CreateTaskPushNotificationConfig",
		"v10.GetTaskPushNotificationConfig",
		"v10.ListTaskPushNotificationConfigs",
		"v10.DeleteTaskPushNotificationConfig", // a2a-go answers with an empty body here
	} {
		x := loadExchange(t, name)
		resp, body := post(t, srv.URL, x.Request.Body, x.Request.Headers)
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
		sameJSON(t, name, body, x.Response.Body)
	}
	x := loadExchange(t, "v10.GetExtendedAgentCard")
	_, body := post(t, srv.URL, x.Request.Body, x.Request.Headers)
	card := field(t, mustDecode(t, body), "result")
	if field(t, card, "description") != "extended" || field(t, card, "capabilities", "extendedAgentCard") != true ||
		field(t, card, "supportedInterfaces", 0, "protocolBinding") != "JSONRPC" || field(t, card, "url") != nil {
		t.Errorf("GetExtendedAgentCard: %s", body)
	}
}

type sseEvent struct {
	raw  string
	data []byte
}

// readEvents parses SSE events off r into a channel, as they arrive.
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev.raw != "" {
					ch <- ev
				}
				ev = sseEvent{}
				continue
			}
			ev.raw += line + "\n"
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = append(ev.data, d...)
			}
		}
	}()
	return ch
}

// TestMiddlewareStreamsEventByEvent: a recorded 1.0 SendStreamingMessage goes
// to a2a-go; each event reaches the client, in 1.0 shape, while the agent is
// still held back from producing the next one.
func TestMiddlewareStreamsEventByEvent(t *testing.T) {
	gate := make(chan struct{})
	srv := newA2AGoServer(t, &echoExecutor{gate: gate}, Options{})
	x := loadExchange(t, "v10.SendStreamingMessage.stream")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, bytes.NewReader(x.Request.Body))
	for k, v := range x.Request.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	events := readEvents(resp.Body)
	want := []struct{ key, state string }{
		{"task", "TASK_STATE_SUBMITTED"},
		{"statusUpdate", "TASK_STATE_WORKING"},
		{"artifactUpdate", ""},
		{"statusUpdate", "TASK_STATE_COMPLETED"},
	}
	for i, w := range want {
		var ev sseEvent
		select {
		case ev = <-events:
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d (%s) did not arrive", i, w.key)
		}
		if !strings.HasPrefix(ev.raw, "id: ") {
			t.Errorf("event %d lost its SSE id line: %q", i, ev.raw)
		}
		v := mustDecode(t, ev.data)
		if field(t, v, "jsonrpc") != "2.0" || field(t, v, "id").(json.Number) != "4" {
			t.Errorf("event %d envelope: %s", i, ev.data)
		}
		result := field(t, v, "result").(obj)
		if len(result) != 1 || result[w.key] == nil {
			t.Fatalf("event %d: want %s, got %s", i, w.key, ev.data)
		}
		if w.state != "" {
			if s := field(t, result[w.key], "status", "state"); s != w.state {
				t.Errorf("event %d state %v, want %s", i, s, w.state)
			}
		}
		if w.key == "artifactUpdate" {
			sent := field(t, mustDecode(t, x.Request.Body), "params", "message", "parts")
			sameJSON(t, "echoed parts", mustEncode(t, field(t, result[w.key], "artifact", "parts")), mustEncode(t, sent))
		}
		if i == len(want)-1 {
			break
		}
		// the next event must wait for the agent, i.e. nothing is buffered
		select {
		case ev, ok := <-events:
			t.Fatalf("event %d arrived before the agent produced it (%v): %s", i+1, ok, ev.raw)
		case <-time.After(50 * time.Millisecond):
		}
		gate <- struct{}{}
	}
	if ev, ok := <-events; ok {
		t.Errorf("unexpected extra event %s", ev.raw)
	}
}

// recorder is a fake next handler that records what it got.
type recorder struct {
	body    []byte
	headers http.Header
	reply   func(w http.ResponseWriter)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.body, _ = io.ReadAll(r.Body)
	rec.headers = r.Header.Clone()
	rec.reply(w)
}

func TestMiddlewarePassesV03Untouched(t *testing.T) {
	x := loadExchange(t, "v03.message_send.task")
	rec := &recorder{reply: func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderExtensions03, "urn:x")
		_, _ = w.Write(x.Response.Body)
	}}
	srv := httptest.NewServer(Middleware(rec))
	defer srv.Close()
	resp, body := post(t, srv.URL, x.Request.Body, x.Request.Headers)
	if !bytes.Equal(rec.body, x.Request.Body) {
		t.Errorf("request body changed:\n%s\n%s", rec.body, x.Request.Body)
	}
	if !bytes.Equal(body, x.Response.Body) {
		t.Errorf("response body changed:\n%s\n%s", body, x.Response.Body)
	}
	if resp.Header.Get(HeaderExtensions) != "" {
		t.Error("0.3 response headers changed")
	}

	// and a non-POST goes through as is
	rec.reply = func(w http.ResponseWriter) { _, _ = io.WriteString(w, "card") }
	r, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if string(b) != "card" {
		t.Errorf("GET: %q", b)
	}
}

func TestMiddlewareHeadersAndErrors(t *testing.T) {
	var rec *recorder
	rec = &recorder{reply: func(w http.ResponseWriter) {
		w.Header().Set(HeaderExtensions03, "urn:activated")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"kind":"task","id":"t","contextId":"c","status":{"state":"working"}}}`)
	}}
	srv := httptest.NewServer(MiddlewareWith(rec, Options{
		MaxBodyBytes: 4096,
		Methods10: map[string]func(*http.Request, json.RawMessage) (any, error){
			"ListTasks": func(r *http.Request, params json.RawMessage) (any, error) {
				if !strings.Contains(string(params), `"pageSize":10`) {
					return nil, &Error{Code: CodeInvalidParams, Message: "want pageSize"}
				}
				return json.RawMessage(`{"tasks":[],"nextPageToken":"","pageSize":10,"totalSize":0}`), nil
			},
		},
	}))
	defer srv.Close()
	v10 := map[string]string{HeaderVersion: "1.0", HeaderExtensions: "urn:requested"}

	resp, body := post(t, srv.URL, []byte(`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t"}}`), v10)
	if got := rec.headers.Get(HeaderExtensions03); got != "urn:requested" {
		t.Errorf("next saw X-A2A-Extensions %q", got)
	}
	if got := resp.Header.Get(HeaderExtensions); got != "urn:activated" {
		t.Errorf("response A2A-Extensions %q", got)
	}
	exactJSON(t, "GetTask", body, `{"jsonrpc":"2.0","id":1,"result":{"id":"t","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}}`)

	tests := []struct {
		name, body string
		headers    map[string]string
		status     int
		want       string
	}{
		{"malformed JSON", `{"jsonrpc":`, v10, 200, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700}}`},
		{"malformed JSON, 0.3", `{"jsonrpc":`, nil, 200, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700}}`},
		{"unknown method", `{"jsonrpc":"2.0","id":2,"method":"Frob"}`, v10, 200, `{"jsonrpc":"2.0","id":2,"error":{"code":-32601}}`},
		{"batch", `[{"jsonrpc":"2.0","id":2,"method":"GetTask"}]`, v10, 200, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600}}`},
		{"ListTasks handled natively", `{"jsonrpc":"2.0","id":3,"method":"ListTasks","params":{"pageSize":10}}`, v10, 200, `{"jsonrpc":"2.0","id":3,"result":{"tasks":[],"nextPageToken":"","pageSize":10,"totalSize":0}}`},
		{"ListTasks native error", `{"jsonrpc":"2.0","id":3,"method":"ListTasks","params":{}}`, v10, 200, `{"jsonrpc":"2.0","id":3,"error":{"code":-32602}}`},
		{"unsupported version", `{"jsonrpc":"2.0","id":4,"method":"Frob"}`, map[string]string{HeaderVersion: "2.0"}, 200, `{"jsonrpc":"2.0","id":4,"error":{"code":-32009}}`},
		{"too large", `{"jsonrpc":"2.0","id":5,"method":"GetTask","params":{"id":"` + strings.Repeat("x", 5000) + `"}}`, v10, 413, `{"jsonrpc":"2.0","id":null,"error":{"code":-32600}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, srv.URL, []byte(tt.body), tt.headers)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.want == "" {
				return
			}
			got := mustDecode(t, body).(obj)
			if e, ok := got["error"].(obj); ok { // compare the code only, and check the 1.0 detail
				if _, ok := errorReasons[codeOf(e)]; ok && tt.headers != nil && field(t, e, "data", 0, "@type") != errorInfoType {
					t.Errorf("1.0 error without ErrorInfo: %s", body)
				}
				got["error"] = obj{"code": e["code"]}
			}
			exactJSON(t, tt.name, mustEncode(t, got), tt.want)
		})
	}
}

func TestMiddlewareNonJSONRPCAnswers(t *testing.T) {
	rec := &recorder{reply: func(w http.ResponseWriter) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}}
	srv := httptest.NewServer(Middleware(rec))
	defer srv.Close()

	// ListTasks, without Options.Methods10, never reaches next
	x := loadExchange(t, "v10.ListTasks")
	_, body := post(t, srv.URL, x.Request.Body, x.Request.Headers)
	exactJSON(t, "ListTasks", body, `{"jsonrpc":"2.0","id":16,"error":{"code":-32004,"message":"ListTasks has no A2A 0.3 equivalent",`+
		`"data":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"UNSUPPORTED_OPERATION","domain":"a2a-protocol.org"}]}}`)
	if rec.body != nil {
		t.Error("ListTasks reached the 0.3 handler")
	}
	resp, body := post(t, srv.URL, []byte(`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t"}}`), map[string]string{HeaderVersion: "1.0"})
	if resp.StatusCode != 401 || strings.TrimSpace(string(body)) != "unauthorized" {
		t.Errorf("a plain HTTP error must pass: %d %q", resp.StatusCode, body)
	}

	rec.reply = func(w http.ResponseWriter) { _, _ = io.WriteString(w, "<html>oops</html>") }
	resp, body = post(t, srv.URL, []byte(`{"jsonrpc":"2.0","id":7,"method":"GetTask","params":{"id":"t"}}`), map[string]string{HeaderVersion: "1.0"})
	e := mustDecode(t, body)
	if resp.StatusCode != 200 || field(t, e, "error", "code").(json.Number) != "-32603" || field(t, e, "id").(json.Number) != "7" {
		t.Errorf("an untranslatable 200 answer: %s", body)
	}

	// a broken event in a stream becomes a JSON-RPC error event; the stream goes on
	rec.reply = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, ": keep-alive\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"kind\":\"bogus\"}}\r\n\r\n")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"kind\":\"status-update\",\"taskId\":\"t\",\"contextId\":\"c\",\"final\":true,\"status\":{\"state\":\"completed\"}}}\n\n")
	}
	_, body = post(t, srv.URL, []byte(`{"jsonrpc":"2.0","id":8,"method":"SubscribeToTask","params":{"id":"t"}}`), map[string]string{HeaderVersion: "1.0"})
	want := ": keep-alive\n\n" +
		`data: {"error":{"code":-32603,"message":"translating an event to A2A 1.0: result has unknown event kind \"bogus\""},"id":8,"jsonrpc":"2.0"}` + "\n\n" +
		`data: {"id":8,"jsonrpc":"2.0","result":{"statusUpdate":{"contextId":"c","status":{"state":"TASK_STATE_COMPLETED"},"taskId":"t"}}}` + "\n\n"
	if string(body) != want {
		t.Errorf("stream:\n%s\nwant:\n%s", body, want)
	}
}
