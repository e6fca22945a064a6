package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// ---------------------------------------------------------------- the gateway side

// relayEnv is a gateway's relay on a real loopback socket, mounted in a chi
// router as serve mounts it, over a real registry on SQLite.
type relayEnv struct {
	st      *sqlite.Store
	reg     *agentcards.Registry
	relay   *relay.Relay
	srv     *httptest.Server
	changes <-chan store.Change
	saved   <-chan struct{} // a token after saves of relayed tasks (savedTasks)
}

// savedTasks is the store, with a token on saved after each save of
// relayed tasks: those saves emit no change on the feed.
type savedTasks struct {
	*sqlite.Store
	saved chan struct{}
}

func (s savedTasks) SaveRelayedTask(ctx context.Context, t store.RelayedTask) error {
	defer s.note()
	return s.Store.SaveRelayedTask(ctx, t)
}

func (s savedTasks) SaveRelayedTasks(ctx context.Context, ts []store.RelayedTask) error {
	defer s.note()
	return s.Store.SaveRelayedTasks(ctx, ts)
}

func (s savedTasks) note() {
	select {
	case s.saved <- struct{}{}:
	default:
	}
}

func newRelayEnv(t *testing.T, timeout time.Duration) *relayEnv {
	t.Helper()
	return newRelayEnvWith(t, func(o *relay.Options) { o.Timeout = timeout }, nil)
}

// newRelayEnvWith lets the test change the relay's options and wrap it in
// middleware.
func newRelayEnvWith(t *testing.T, configure func(*relay.Options), wrap func(http.Handler) http.Handler) *relayEnv {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	subCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	changes, err := st.Subscribe(subCtx)
	if err != nil {
		t.Fatal(err)
	}
	reg := agentcards.New(st, agentcards.Options{AllowPrivate: true, HealthInterval: -1})
	router := chi.NewRouter()
	srv := httptest.NewServer(router)
	saved := make(chan struct{}, 1)
	opts := relay.Options{
		Registry:  reg,
		Transport: reg.Guard().Transport(),
		Tasks:     savedTasks{st, saved},
		PublicURL: srv.URL,
		Principal: headerPrincipal,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if configure != nil {
		configure(&opts)
	}
	rl, err := relay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	var h http.Handler = withTestUser(rl)
	if wrap != nil {
		h = wrap(h)
	}
	router.Mount(relay.Path, h)
	t.Cleanup(srv.Close)
	return &relayEnv{st: st, reg: reg, relay: rl, srv: srv, changes: changes, saved: saved}
}

// url is the relay's endpoint for the agent.
func (e *relayEnv) url(agent string) string { return e.srv.URL + relay.Path + "/" + agent }

// register registers the agent by URL.
func (e *relayEnv) register(t *testing.T, a *testAgent) {
	t.Helper()
	if _, err := e.reg.Register(t.Context(), agentcards.Registration{URL: a.srv.URL}); err != nil {
		t.Fatalf("register %s: %v", a.name, err)
	}
}

// metaInterceptor sends fixed headers on every call.
type metaInterceptor struct {
	a2aclient.PassthroughInterceptor
	meta map[string]string
}

func (m metaInterceptor) Before(ctx context.Context, req *a2aclient.Request) (context.Context, error) {
	for k, v := range m.meta {
		req.Meta[k] = []string{v}
	}
	return ctx, nil
}

// client is an a2a-go client built from the card the relay serves for the
// agent, sending the given headers (userHeader names the caller).
func (e *relayEnv) client(t *testing.T, agent string, meta map[string]string) *a2aclient.Client {
	t.Helper()
	card, err := agentcard.NewResolver(&http.Client{}).Resolve(t.Context(), e.url(agent))
	if err != nil {
		t.Fatalf("resolve the relayed card: %v", err)
	}
	if card.URL != e.url(agent) {
		t.Fatalf("relayed card url = %q, want %q", card.URL, e.url(agent))
	}
	// No total Timeout: it would cut streams.
	c, err := a2aclient.NewFromCard(t.Context(), card,
		a2aclient.WithJSONRPCTransport(&http.Client{}),
		a2aclient.WithInterceptors(metaInterceptor{meta: meta}))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Destroy() })
	return c
}

// waitRelayed waits until the relayed task is recorded in the given state,
// looking again after each save.
func (e *relayEnv) waitRelayed(t *testing.T, agent, taskID, state string) store.RelayedTask {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		list, _, err := e.st.ListRelayedTasks(t.Context(), store.RelayedTaskFilter{Agent: agent, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.TaskID == taskID && r.State == state {
				return r
			}
		}
		select {
		case <-e.saved:
		case <-deadline:
			t.Fatalf("relayed task %s/%s never recorded as %s; recorded: %+v", agent, taskID, state, list)
		}
	}
}

// ---------------------------------------------------------------- agents

// seenRequest is what an agent received.
type seenRequest struct {
	method string
	header http.Header
}

// testAgent is an agent on loopback whose requests the test reads: an
// a2a-go v0.3 agent speaking A2A 0.3 (startAgent), or an a2a-go v2 agent
// speaking 1.0 only or both (startAgent1).
type testAgent struct {
	name string
	srv  *httptest.Server

	mu     sync.Mutex
	seen   []seenRequest
	onCall func(method string) // called with each request's method, if set
}

type agentVersion string

const (
	speaks03   agentVersion = "0.3"
	speaks10   agentVersion = "1.0"
	speaksBoth agentVersion = "both"
)

// startAgent starts an a2a-go v0.3 agent, speaking A2A 0.3 only, with its
// 0.3 card.
func startAgent(t *testing.T, name string, exec a2asrv.AgentExecutor) *testAgent {
	t.Helper()
	return startAgent03(t, name, func(a *testAgent) http.Handler {
		return a.spy(a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(exec)))
	})
}

// startAgent03 is an agent speaking A2A 0.3 only: its 0.3 card, and the
// handler serve makes for it answering every call at its URL.
func startAgent03(t *testing.T, name string, serve func(*testAgent) http.Handler) *testAgent {
	t.Helper()
	a := &testAgent{name: name}
	var card []byte
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentcards.WellKnownPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(card)
	})
	mux.Handle("/", serve(a))
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	var err error
	card, err = json.Marshal(agentcardstest.Card03(name, a.srv.URL+"/", agentcardstest.Skill("work", "Work", "test")))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// spy records each request's method and headers.
func (a *testAgent) spy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &req)
		a.mu.Lock()
		a.seen = append(a.seen, seenRequest{method: req.Method, header: r.Header.Clone()})
		onCall := a.onCall
		a.mu.Unlock()
		if onCall != nil {
			onCall(req.Method)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (a *testAgent) requests() []seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

func (a *testAgent) last(t *testing.T) seenRequest {
	t.Helper()
	seen := a.requests()
	if len(seen) == 0 {
		t.Fatalf("agent %s received nothing", a.name)
	}
	return seen[len(seen)-1]
}

func textOf(m *a2ago.Message) string {
	if m == nil {
		return ""
	}
	var out []string
	for _, p := range m.Parts {
		if tp, ok := p.(a2ago.TextPart); ok {
			out = append(out, tp.Text)
		}
	}
	return strings.Join(out, " ")
}

// completeExecutor completes each task at once, saying what it got, and
// reports the message metadata it saw.
type completeExecutor struct {
	name     string
	metadata chan map[string]any
}

func newCompleteExecutor(name string) *completeExecutor {
	return &completeExecutor{name: name, metadata: make(chan map[string]any, 64)}
}

func (e *completeExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	select {
	case e.metadata <- reqCtx.Message.Metadata:
	default:
	}
	if reqCtx.StoredTask == nil {
		if err := q.Write(ctx, a2ago.NewSubmittedTask(reqCtx, reqCtx.Message)); err != nil {
			return err
		}
	}
	ev := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCompleted,
		a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx, a2ago.TextPart{Text: e.name + " did: " + textOf(reqCtx.Message)}))
	ev.Final = true
	return q.Write(ctx, ev)
}

func (e *completeExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return a2ago.ErrTaskNotCancelable
}

// stepExecutor emits a task, three working updates, an artifact and the
// completion, waiting before each event after the first until the test
// releases it: the test releases the next event only once the previous
// one reached its client, so a relay that held events back would hang.
type stepExecutor struct {
	release chan struct{}
}

func (e *stepExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	if err := q.Write(ctx, a2ago.NewSubmittedTask(reqCtx, reqCtx.Message)); err != nil {
		return err
	}
	wait := func() error {
		select {
		case <-e.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := 1; i <= 3; i++ {
		if err := wait(); err != nil {
			return err
		}
		msg := a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx, a2ago.TextPart{Text: fmt.Sprintf("step %d", i)})
		if err := q.Write(ctx, a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateWorking, msg)); err != nil {
			return err
		}
	}
	if err := wait(); err != nil {
		return err
	}
	if err := q.Write(ctx, a2ago.NewArtifactEvent(reqCtx, a2ago.TextPart{Text: "the result"})); err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	done := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

func (e *stepExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return a2ago.ErrTaskNotCancelable
}

// holdExecutor starts a task and keeps it working: each poke adds a
// working update, finish completes it, and a cancel cancels it. Execute
// returns when its task ends (or its context does).
type holdExecutor struct {
	poke   chan struct{}
	finish chan struct{}

	mu       sync.Mutex
	canceled map[a2ago.TaskID]chan struct{}
}

func newHoldExecutor() *holdExecutor {
	return &holdExecutor{poke: make(chan struct{}), finish: make(chan struct{}), canceled: map[a2ago.TaskID]chan struct{}{}}
}

func (e *holdExecutor) canceledCh(id a2ago.TaskID) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.canceled[id]
	if !ok {
		ch = make(chan struct{})
		e.canceled[id] = ch
	}
	return ch
}

func (e *holdExecutor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	if err := q.Write(ctx, a2ago.NewSubmittedTask(reqCtx, reqCtx.Message)); err != nil {
		return err
	}
	if err := q.Write(ctx, a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateWorking, nil)); err != nil {
		return err
	}
	canceled := e.canceledCh(reqCtx.TaskID)
	for {
		select {
		case <-e.poke:
			msg := a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx, a2ago.TextPart{Text: "tick"})
			if err := q.Write(ctx, a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateWorking, msg)); err != nil {
				return err
			}
		case <-e.finish:
			done := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCompleted, nil)
			done.Final = true
			return q.Write(ctx, done)
		case <-canceled:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (e *holdExecutor) Cancel(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCanceled, nil)
	ev.Final = true
	if err := q.Write(ctx, ev); err != nil {
		return err
	}
	close(e.canceledCh(reqCtx.TaskID))
	return nil
}

// ---------------------------------------------------------------- raw JSON-RPC

// rpc POSTs a JSON-RPC request to url with the given headers and returns
// the HTTP response's status and its JSON answer (for a stream: the data
// of each event).
func rpc(t *testing.T, url string, header map[string]string, body any) (status int, answers []map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatalf("event %q: %v", data, err)
				}
				answers = append(answers, m)
			}
		}
		return resp.StatusCode, answers
	}
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer %q (HTTP %d): %v", raw, resp.StatusCode, err)
	}
	return resp.StatusCode, []map[string]any{m}
}

// dig follows a path of object members and list indices.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func message03(text string) map[string]any {
	return map[string]any{"kind": "message", "messageId": a2ago.NewMessageID(), "role": "user", "parts": []any{map[string]any{"kind": "text", "text": text}}}
}

func message10(text string) map[string]any {
	return map[string]any{"messageId": a2ago.NewMessageID(), "role": "ROLE_USER", "parts": []any{map[string]any{"text": text}}}
}

// ---------------------------------------------------------------- tests

// TestRelayBlockingSend: a2a-go's client, built from the card the relay
// serves, sends a blocking message through the relay to an a2a-go agent;
// the agent hears who the caller is, the caller's credentials stay behind,
// and the task is recorded with its agent and caller.
func TestRelayBlockingSend(t *testing.T) {
	env := newRelayEnv(t, 0)
	exec := newCompleteExecutor("billing")
	agent := startAgent(t, "billing", exec)
	env.register(t, agent)
	client := env.client(t, "billing", map[string]string{
		userHeader:                 "alice",
		"Authorization":            "Bearer the-callers-token",
		"Cookie":                   "session=secret",
		compat.HeaderExtensions03:  "https://example.com/ext/v1",
		"X-Request-Id":             "req-123",
		"Traceparent":              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"X-Something-Else-Private": "no",
	})

	res, err := client.SendMessage(t.Context(), &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "refund 350"})})
	if err != nil {
		t.Fatalf("message/send through the relay: %v", err)
	}
	task, ok := res.(*a2ago.Task)
	if !ok {
		t.Fatalf("message/send returned %T, want a task", res)
	}
	if task.Status.State != a2ago.TaskStateCompleted || textOf(task.Status.Message) != "billing did: refund 350" {
		t.Errorf("task = %s %q", task.Status.State, textOf(task.Status.Message))
	}

	md := <-exec.metadata
	if got := dig(md, "parley", "caller"); got != "alice" {
		t.Errorf("message metadata parley.caller = %v, want alice (metadata %v)", got, md)
	}
	if got := dig(md, "parley", "via"); got != "parley" {
		t.Errorf("message metadata parley.via = %v", got)
	}
	seen := agent.last(t)
	if seen.method != "message/send" {
		t.Errorf("agent got %q, want message/send", seen.method)
	}
	for _, h := range []string{"Authorization", "Cookie", userHeader, "X-Something-Else-Private", compat.HeaderVersion} {
		if v := seen.header.Get(h); v != "" {
			t.Errorf("the agent got %s: %q; it must not", h, v)
		}
	}
	for h, want := range map[string]string{
		compat.HeaderExtensions03: "https://example.com/ext/v1",
		"X-Request-Id":            "req-123",
		"Traceparent":             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"Content-Type":            "application/json",
	} {
		if got := seen.header.Get(h); got != want {
			t.Errorf("the agent got %s: %q, want %q", h, got, want)
		}
	}

	rec := env.waitRelayed(t, "billing", string(task.ID), "completed")
	if rec.Agent != "billing" || rec.Caller != "alice" || rec.ContextID != task.ContextID {
		t.Errorf("recorded %+v", rec)
	}

	// tasks/get through the relay reads the agent's task.
	got, err := client.GetTask(t.Context(), &a2ago.TaskQueryParams{ID: task.ID})
	if err != nil {
		t.Fatalf("tasks/get through the relay: %v", err)
	}
	if got.ID != task.ID || got.Status.State != a2ago.TaskStateCompleted {
		t.Errorf("tasks/get = %s %s", got.ID, got.Status.State)
	}
	// The agent's own errors come through as what they are.
	_, err = client.GetTask(t.Context(), &a2ago.TaskQueryParams{ID: "no-such-task"})
	if !errors.Is(err, a2ago.ErrTaskNotFound) {
		t.Errorf("tasks/get of an unknown task = %v, want ErrTaskNotFound", err)
	}

	// Someone else may not read the task (TestRelayRefusesOtherCallersTasks),
	// nor become its caller by trying.
	other := env.client(t, "billing", map[string]string{userHeader: "bob"})
	if _, err := other.GetTask(t.Context(), &a2ago.TaskQueryParams{ID: task.ID}); !errors.Is(err, a2ago.ErrTaskNotFound) {
		t.Fatalf("bob's tasks/get of alice's task = %v, want ErrTaskNotFound", err)
	}
	list, _, err := env.st.ListRelayedTasks(t.Context(), store.RelayedTaskFilter{Caller: "alice"})
	if err != nil || len(list) != 1 || list[0].TaskID != string(task.ID) {
		t.Errorf("alice's relayed tasks = %+v, %v", list, err)
	}
	if list, _, _ := env.st.ListRelayedTasks(t.Context(), store.RelayedTaskFilter{Caller: "bob"}); len(list) != 0 {
		t.Errorf("bob's relayed tasks = %+v, want none", list)
	}
}

// TestRelayStreamsEventByEvent: each event of a streamed answer reaches
// the client before the agent is allowed to produce the next one, in
// order, and the task's states are recorded.
func TestRelayStreamsEventByEvent(t *testing.T) {
	env := newRelayEnv(t, 0)
	exec := &stepExecutor{release: make(chan struct{})}
	env.register(t, startAgent(t, "planner", exec))
	client := env.client(t, "planner", map[string]string{userHeader: "alice"})

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var got []string
	var taskID a2ago.TaskID
	for ev, err := range client.SendStreamingMessage(ctx, &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "plan"})}) {
		if err != nil {
			t.Fatalf("after %v: %v (a relay that buffers never delivers the event the agent waits on)", got, err)
		}
		switch ev := ev.(type) {
		case *a2ago.Task:
			taskID = ev.ID
			got = append(got, "task:"+string(ev.Status.State))
		case *a2ago.TaskStatusUpdateEvent:
			got = append(got, "status:"+string(ev.Status.State)+":"+textOf(ev.Status.Message))
		case *a2ago.TaskArtifactUpdateEvent:
			got = append(got, "artifact:"+textOf(&a2ago.Message{Parts: ev.Artifact.Parts}))
		default:
			got = append(got, fmt.Sprintf("%T", ev))
		}
		if len(got) < 6 {
			// This event is at the client: let the agent write the next.
			select {
			case exec.release <- struct{}{}:
			case <-ctx.Done():
				t.Fatalf("the agent did not take the release after %v", got)
			}
		}
	}
	want := []string{
		"task:submitted",
		"status:working:step 1",
		"status:working:step 2",
		"status:working:step 3",
		"artifact:the result",
		"status:completed:",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events =\n%v\nwant\n%v", got, want)
	}
	rec := env.waitRelayed(t, "planner", string(taskID), "completed")
	if rec.Caller != "alice" {
		t.Errorf("recorded %+v", rec)
	}
}

// TestRelayCancelAndResubscribe: a task that works until cancelled is
// cancelled through the relay, and its caller follows a running task from
// a second client through tasks/resubscribe. (Another caller may not: see
// TestRelayRefusesOtherCallersTasks.)
func TestRelayCancelAndResubscribe(t *testing.T) {
	env := newRelayEnv(t, 0)
	exec := newHoldExecutor()
	env.register(t, startAgent(t, "worker", exec))
	client := env.client(t, "worker", map[string]string{userHeader: "alice"})

	// start sends a streaming message and returns the task and the rest
	// of its stream.
	start := func(ctx context.Context) (a2ago.TaskID, <-chan a2ago.Event, <-chan error) {
		t.Helper()
		events, errs := make(chan a2ago.Event, 100), make(chan error, 1)
		first := make(chan a2ago.TaskID, 1)
		go func() {
			defer close(events)
			sent := false
			for ev, err := range client.SendStreamingMessage(ctx, &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "work"})}) {
				if err != nil {
					errs <- err
					return
				}
				if task, ok := ev.(*a2ago.Task); ok && !sent {
					first <- task.ID
					sent = true
					continue
				}
				events <- ev
			}
		}()
		select {
		case id := <-first:
			return id, events, errs
		case err := <-errs:
			t.Fatalf("message/stream: %v", err)
		case <-ctx.Done():
			t.Fatal("no task")
		}
		return "", nil, nil
	}
	states := func(events <-chan a2ago.Event) []string {
		var out []string
		for ev := range events {
			if su, ok := ev.(*a2ago.TaskStatusUpdateEvent); ok {
				out = append(out, string(su.Status.State))
			}
		}
		return out
	}

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		id, events, _ := start(ctx)
		env.waitRelayed(t, "worker", string(id), "working")
		task, err := client.CancelTask(ctx, &a2ago.TaskIDParams{ID: id})
		if err != nil {
			t.Fatalf("tasks/cancel through the relay: %v", err)
		}
		if task.ID != id || task.Status.State != a2ago.TaskStateCanceled {
			t.Errorf("tasks/cancel = %s %s", task.ID, task.Status.State)
		}
		if got := states(events); len(got) == 0 || got[len(got)-1] != "canceled" {
			t.Errorf("the stream's states = %v, want it to end canceled", got)
		}
		env.waitRelayed(t, "worker", string(id), "canceled")
	})

	t.Run("resubscribe", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		id, events, _ := start(ctx)
		go states(events) // the first stream goes on; drain it

		follower := env.client(t, "worker", map[string]string{userHeader: "alice"}) // a second client of hers
		got := make(chan string, 100)
		done := make(chan error, 1)
		go func() {
			defer close(got)
			for ev, err := range follower.ResubscribeToTask(ctx, &a2ago.TaskIDParams{ID: id}) {
				if err != nil {
					done <- err
					return
				}
				if su, ok := ev.(*a2ago.TaskStatusUpdateEvent); ok {
					got <- string(su.Status.State) + ":" + textOf(su.Status.Message)
				}
			}
			done <- nil
		}()
		// The follower hears events from when its subscription starts:
		// poke the agent until one reaches it.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var first string
	poke:
		for {
			select {
			case first = <-got:
				// The task's opening "working" may still reach an early
				// subscriber; wait for an event the poke caused.
				if first == "working:" {
					continue
				}
				break poke
			case <-tick.C:
				select {
				case exec.poke <- struct{}{}:
				default:
				}
			case err := <-done:
				t.Fatalf("tasks/resubscribe ended early: %v", err)
			case <-ctx.Done():
				t.Fatal("no event reached the resubscribed client")
			}
		}
		if first != "working:tick" {
			t.Errorf("first resubscribed event = %q, want working:tick", first)
		}
		close(exec.finish)
		var rest []string
		for s := range got {
			rest = append(rest, s)
		}
		if err := <-done; err != nil {
			t.Fatalf("tasks/resubscribe: %v", err)
		}
		if len(rest) == 0 || rest[len(rest)-1] != "completed:" {
			t.Errorf("resubscribed events after the first = %v, want them to end with completed", rest)
		}
		rec := env.waitRelayed(t, "worker", string(id), "completed")
		if rec.Caller != "alice" {
			t.Errorf("recorded caller %q, want alice (who started it)", rec.Caller)
		}
	})
}

// TestRelayVersions: callers speaking A2A 0.3 or 1.0 reach agents speaking
// 0.3, 1.0 or both; each side gets its own version, and nothing is
// translated when the agent speaks the caller's.
func TestRelayVersions(t *testing.T) {
	env := newRelayEnv(t, 0)
	agents := map[agentVersion]*testAgent{}
	metadata := map[agentVersion]chan map[string]any{} // what each agent's executor saw
	for _, v := range []agentVersion{speaks03, speaks10, speaksBoth} {
		name := "agent-" + strings.ReplaceAll(string(v), ".", "")
		if v == speaks03 {
			exec := newCompleteExecutor(name)
			agents[v], metadata[v] = startAgent(t, name, exec), exec.metadata
		} else {
			exec := newCompleteExecutor1(name)
			agents[v], metadata[v] = startAgent1(t, name, exec, v), exec.metadata
		}
		env.register(t, agents[v])
	}
	for _, av := range []agentVersion{speaks03, speaks10, speaksBoth} {
		for _, cv := range []compat.Version{compat.V03, compat.V10} {
			for _, streaming := range []bool{false, true} {
				agent := agents[av]
				t.Run(fmt.Sprintf("%s caller to %s agent streaming=%v", cv, av, streaming), func(t *testing.T) {
					method, msg, header := "message/send", message03("hello"), map[string]string{userHeader: "carol"}
					if cv == compat.V10 {
						method, msg = "SendMessage", message10("hello")
						header[compat.HeaderVersion] = "1.0"
					}
					switch {
					case streaming && cv == compat.V10:
						method = "SendStreamingMessage"
					case streaming:
						method = "message/stream"
					}
					status, answers := rpc(t, env.url(agent.name), header, map[string]any{
						"jsonrpc": "2.0", "id": 7, "method": method, "params": map[string]any{"message": msg},
					})
					if status != http.StatusOK || len(answers) == 0 {
						t.Fatalf("HTTP %d, %d answers", status, len(answers))
					}
					wantAgent := cv
					switch av {
					case speaks03:
						wantAgent = compat.V03
					case speaks10:
						wantAgent = compat.V10
					}
					seen := agent.last(t)
					wantMethod := compat.Method03(method)
					if wantAgent == compat.V10 {
						wantMethod = compat.Method10(method)
					}
					if seen.method != wantMethod {
						t.Errorf("the agent got %q, want %q", seen.method, wantMethod)
					}
					if got := seen.header.Get(compat.HeaderVersion); (wantAgent == compat.V10) != (got == "1.0") {
						t.Errorf("the agent got A2A-Version %q, speaking %s", got, wantAgent)
					}
					select {
					case md := <-metadata[av]:
						if dig(md, "parley", "caller") != "carol" {
							t.Errorf("metadata at the agent = %v", md)
						}
					default:
						t.Errorf("the agent's executor did not run")
					}
					last := answers[len(answers)-1]
					if e := last["error"]; e != nil {
						t.Fatalf("error: %v", e)
					}
					if dig(last, "id") != float64(7) {
						t.Errorf("answer id = %v", dig(last, "id"))
					}
					var state any
					switch {
					case cv == compat.V03 && !streaming:
						state = dig(last, "result", "status", "state")
					case cv == compat.V03:
						state = dig(last, "result", "status", "state") // the final status-update
					case !streaming:
						state = dig(last, "result", "task", "status", "state")
					default:
						state = dig(last, "result", "statusUpdate", "status", "state")
					}
					want := "completed"
					if cv == compat.V10 {
						want = "TASK_STATE_COMPLETED"
					}
					if state != want {
						t.Errorf("final state = %v, want %s; answers %v", state, want, answers)
					}
				})
			}
		}
	}
	// Every task was recorded, with the 0.3 spelling of its state, from
	// answers and events of either version.
	deadline := time.After(10 * time.Second)
	for {
		list, _, err := env.st.ListRelayedTasks(t.Context(), store.RelayedTaskFilter{Caller: "carol", States: []string{"completed"}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 12 {
			break
		}
		select {
		case <-env.saved:
		case <-deadline:
			t.Fatalf("%d relayed tasks recorded completed, want 12: %+v", len(list), list)
		}
	}
}

// wireCapture is a recorded exchange from a2a/compat/testdata/wire.
type wireCapture struct {
	Request struct {
		Headers map[string]string `json:"headers"`
		Body    map[string]any    `json:"body"`
	} `json:"request"`
}

func loadWire(t *testing.T, name string) wireCapture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "compat", "testdata", "wire", name))
	if err != nil {
		t.Fatal(err)
	}
	var c wireCapture
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRelay10WireRequestTo03Agent: requests recorded from @a2a-js/sdk 1.3.0
// go through the relay to an a2a-go (0.3) agent and get 1.0-shaped answers.
func TestRelay10WireRequestTo03Agent(t *testing.T) {
	env := newRelayEnv(t, 0)
	agent := startAgent(t, "legacy", newCompleteExecutor("legacy"))
	env.register(t, agent)
	url := env.url("legacy")

	send := loadWire(t, "v10.SendMessage.task.json")
	status, answers := rpc(t, url, send.Request.Headers, send.Request.Body)
	if status != http.StatusOK || len(answers) != 1 {
		t.Fatalf("SendMessage: HTTP %d, %v", status, answers)
	}
	ans := answers[0]
	if ans["error"] != nil {
		t.Fatalf("SendMessage: %v", ans["error"])
	}
	if agent.last(t).method != "message/send" {
		t.Errorf("the agent got %q", agent.last(t).method)
	}
	task := dig(ans, "result", "task")
	if dig(task, "status", "state") != "TASK_STATE_COMPLETED" || dig(task, "kind") != nil {
		t.Errorf("answer is not 1.0-shaped: %v", ans)
	}
	if dig(task, "status", "message", "role") != "ROLE_AGENT" || dig(task, "status", "message", "parts", 0, "text") != "legacy did: run" {
		t.Errorf("status message = %v", dig(task, "status", "message"))
	}
	if dig(task, "history", 0, "role") != "ROLE_USER" || dig(task, "history", 0, "parts", 2, "url") != "https://example.com/in.png" ||
		dig(task, "history", 0, "parts", 1, "data", "tool") != "get_ticket" {
		t.Errorf("history = %v", dig(task, "history"))
	}
	taskID, _ := dig(task, "id").(string)
	env.waitRelayed(t, "legacy", taskID, "completed")

	// GetTask, in 1.0, of that task.
	get := loadWire(t, "v10.GetTask.json")
	get.Request.Body["params"] = map[string]any{"id": taskID}
	_, answers = rpc(t, url, get.Request.Headers, get.Request.Body)
	if got := dig(answers[0], "result", "status", "state"); got != "TASK_STATE_COMPLETED" || dig(answers[0], "result", "id") != taskID {
		t.Errorf("GetTask = %v", answers[0])
	}
	// An unknown task: the agent's error, in 1.0, naming the agent.
	get.Request.Body["params"] = map[string]any{"id": "nope"}
	_, answers = rpc(t, url, get.Request.Headers, get.Request.Body)
	e, _ := answers[0]["error"].(map[string]any)
	if dig(e, "code") != float64(compat.CodeTaskNotFound) || !strings.HasPrefix(dig(e, "message").(string), `agent "legacy": `) {
		t.Errorf("GetTask of an unknown task = %v", answers[0])
	}
	details, _ := e["data"].([]any)
	foundAgent := false
	for _, d := range details {
		if dig(d, "metadata", "agent") == "legacy" {
			foundAgent = true
		}
	}
	if !foundAgent {
		t.Errorf("error details %v do not name the agent", e["data"])
	}

	// SendStreamingMessage: every event 1.0-shaped.
	stream := loadWire(t, "v10.SendStreamingMessage.stream.json")
	_, events := rpc(t, url, stream.Request.Headers, stream.Request.Body)
	if len(events) < 2 {
		t.Fatalf("stream events = %v", events)
	}
	if dig(events[0], "result", "task", "status", "state") != "TASK_STATE_SUBMITTED" {
		t.Errorf("first event = %v", events[0])
	}
	if dig(events[len(events)-1], "result", "statusUpdate", "status", "state") != "TASK_STATE_COMPLETED" {
		t.Errorf("last event = %v", events[len(events)-1])
	}
	for _, ev := range events {
		if dig(ev, "result", "kind") != nil {
			t.Errorf("a 0.3-shaped event: %v", ev)
		}
	}
}

// TestRelayErrors: unknown agents, dead agents and slow agents come back
// as JSON-RPC errors naming the agent, to a2a-go's client and on the wire.
func TestRelayErrors(t *testing.T) {
	const timeout = 300 * time.Millisecond
	env := newRelayEnv(t, timeout)

	dead := startAgent(t, "dead", newCompleteExecutor("dead"))
	env.register(t, dead)
	deadClient := env.client(t, "dead", nil) // the card comes from the registry
	dead.srv.Close()

	// An agent that never answers: a2a-go's blocking send waits on an
	// executor that never finishes.
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	slow := startAgent(t, "slow", hangExecutor{hang})
	env.register(t, slow)
	slowClient := env.client(t, "slow", nil)

	// An agent whose server accepts the call and never even starts its
	// answer, for streams too.
	stalled := startStalledAgent(t, "stalled")
	env.register(t, stalled)

	// An agent whose endpoint names a host that resolves nowhere (.invalid,
	// RFC 6761): the caller hears which host, not the gateway's resolver.
	ghostCard, err := json.Marshal(agentcardstest.Card03("ghost", "http://ghost.parley-test.invalid/", agentcardstest.Skill("work", "Work")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.reg.Register(t.Context(), agentcards.Registration{Card: ghostCard}); err != nil {
		t.Fatal(err)
	}

	msg := &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "hello"})}
	clientCases := []struct {
		name   string
		client *a2aclient.Client
		stream bool
		want   []string
	}{
		{"dead agent send", deadClient, false, []string{`agent "dead" is unreachable`, "connection refused"}},
		{"dead agent stream", deadClient, true, []string{`agent "dead" is unreachable`, "connection refused"}},
		{"slow agent send", slowClient, false, []string{`agent "slow" did not answer within 300ms`}},
	}
	for _, tc := range clientCases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.stream {
				for _, e := range tc.client.SendStreamingMessage(t.Context(), msg) {
					if e != nil {
						err = e
						break
					}
				}
			} else {
				_, err = tc.client.SendMessage(t.Context(), msg)
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("a2a-go client error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}

	wireCases := []struct {
		name    string
		agent   string
		version compat.Version
		method  string
		code    int
		cause   string
		want    string
	}{
		{"unknown agent", "nobody", compat.V03, "message/send", compat.CodeInvalidRequest, "not_registered", `agent "nobody" is not registered with Parley`},
		{"unknown agent 1.0", "nobody", compat.V10, "SendMessage", compat.CodeInvalidRequest, "not_registered", `agent "nobody" is not registered with Parley`},
		{"unknown agent stream", "nobody", compat.V03, "message/stream", compat.CodeInvalidRequest, "not_registered", `agent "nobody" is not registered with Parley`},
		{"dead agent 1.0", "dead", compat.V10, "SendMessage", compat.CodeInternalError, "unreachable", `agent "dead" is unreachable: connection refused`},
		{"dead agent stream", "dead", compat.V03, "message/stream", compat.CodeInternalError, "unreachable", `agent "dead" is unreachable: connection refused`},
		{"unresolvable agent", "ghost", compat.V03, "message/send", compat.CodeInternalError, "unreachable", `agent "ghost" is unreachable: host ghost.parley-test.invalid could not be resolved`},
		{"unresolvable agent 1.0", "ghost", compat.V10, "SendMessage", compat.CodeInternalError, "unreachable", `agent "ghost" is unreachable: host ghost.parley-test.invalid could not be resolved`},
		{"stalled agent", "stalled", compat.V03, "message/send", compat.CodeInternalError, "timeout", `agent "stalled" did not answer within 300ms`},
		{"stalled agent stream", "stalled", compat.V03, "message/stream", compat.CodeInternalError, "timeout", `agent "stalled" did not answer within 300ms`},
		{"stalled agent 1.0 stream", "stalled", compat.V10, "SendStreamingMessage", compat.CodeInternalError, "timeout", `agent "stalled" did not answer within 300ms`},
		{"1.0 only method to a 0.3 agent", "slow", compat.V10, "ListTasks", compat.CodeUnsupportedOperation, "translation", `agent "slow" speaks A2A 0.3`},
	}
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			header := map[string]string{}
			params := map[string]any{"message": message03("hi")}
			if tc.version == compat.V10 {
				header[compat.HeaderVersion] = "1.0"
				params = map[string]any{"message": message10("hi")}
			}
			status, answers := rpc(t, env.url(tc.agent), header, map[string]any{"jsonrpc": "2.0", "id": "x1", "method": tc.method, "params": params})
			if status != http.StatusOK || len(answers) != 1 {
				t.Fatalf("HTTP %d, answers %v", status, answers)
			}
			e, _ := answers[0]["error"].(map[string]any)
			if e == nil || answers[0]["id"] != "x1" {
				t.Fatalf("answer = %v, want an error for id x1", answers[0])
			}
			if dig(e, "code") != float64(tc.code) || !strings.Contains(dig(e, "message").(string), tc.want) {
				t.Errorf("error = %v, want code %d saying %q", e, tc.code, tc.want)
			}
			// Nothing of the gateway's side: its resolver, its dialer's
			// words, Go's types.
			all, _ := json.Marshal(e)
			for _, leak := range []string{":53", "lookup ", "dial tcp", "read tcp", "*net.", "net.OpError", "DNSError", "url.Error"} {
				if strings.Contains(string(all), leak) {
					t.Errorf("error %s carries %q", all, leak)
				}
			}
			// The data names the agent and the cause: an object for 0.3
			// (and codes 1.0 has no reason for), ErrorInfo metadata else.
			data := e["data"]
			if l, ok := data.([]any); ok && len(l) > 0 {
				data = dig(l, 0, "metadata")
			}
			if dig(data, "agent") != tc.agent || dig(data, "cause") != tc.cause {
				t.Errorf("error data = %v, want agent %q cause %q", e["data"], tc.agent, tc.cause)
			}
		})
	}

	t.Run("card of an unknown agent", func(t *testing.T) {
		resp, err := http.Get(env.url("nobody") + agentcards.WellKnownPath)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `agent \"nobody\" is not registered`) {
			t.Errorf("HTTP %d %s", resp.StatusCode, body)
		}
	})
}

// hangExecutor never finishes a task.
type hangExecutor struct{ release chan struct{} }

func (e hangExecutor) Execute(ctx context.Context, _ *a2asrv.RequestContext, _ eventqueue.Queue) error {
	select {
	case <-e.release:
	case <-ctx.Done():
	}
	return nil
}

func (hangExecutor) Cancel(context.Context, *a2asrv.RequestContext, eventqueue.Queue) error {
	return nil
}

// startStalledAgent serves a card, and holds every JSON-RPC call without
// answering until the caller goes away.
func startStalledAgent(t *testing.T, name string) *testAgent {
	t.Helper()
	a := &testAgent{name: name}
	var card []byte
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentcards.WellKnownPath, func(w http.ResponseWriter, r *http.Request) { w.Write(card) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body to its end lets the server notice the caller
		// hanging up.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	card, _ = json.Marshal(agentcardstest.Card03(name, a.srv.URL+"/", agentcardstest.Skill("wait", "Wait")))
	return a
}

// TestRelayCard: the relayed card points at the relay, for A2A 1.0 and
// 0.3, keeps the agent's skills and security schemes, and drops the
// interfaces the relay does not carry.
func TestRelayCard(t *testing.T) {
	env := newRelayEnv(t, 0)
	agent := startAgent(t, "Billing Desk", newCompleteExecutor("billing"))
	doc := map[string]any{
		"name": "Billing Desk", "description": "bills", "version": "2.0.0", "protocolVersion": "0.3.0",
		"url": agent.srv.URL + "/", "preferredTransport": "JSONRPC",
		"additionalInterfaces": []any{map[string]any{"url": "127.0.0.1:4242", "transport": "GRPC"}},
		"capabilities":         map[string]any{"streaming": true},
		"defaultInputModes":    []any{"text/plain"}, "defaultOutputModes": []any{"text/plain"},
		"skills":          []any{map[string]any{"id": "refunds", "name": "Refunds", "description": "refunds", "tags": []any{"money"}}},
		"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		"security":        []any{map[string]any{"bearer": []any{}}},
		"signatures":      []any{map[string]any{"protected": "x", "signature": "y"}},
		"x-unknown":       map[string]any{"kept": true},
	}
	raw, _ := json.Marshal(doc)
	if _, err := env.reg.Register(t.Context(), agentcards.Registration{Card: raw}); err != nil {
		t.Fatal(err)
	}
	relayURL := env.srv.URL + "/a2a/agents/Billing%20Desk"

	// An SDK given the relay URL without a trailing slash resolves the card
	// next to it, losing the agent's name: the 404 says what to do.
	lost, err := http.Get(env.srv.URL + "/a2a/agents" + agentcards.WellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	lostBody, _ := io.ReadAll(lost.Body)
	lost.Body.Close()
	if lost.StatusCode != http.StatusNotFound || !strings.Contains(string(lostBody), "trailing slash") {
		t.Errorf("card without an agent name: %d %s", lost.StatusCode, lostBody)
	}

	resp, err := http.Get(relayURL + agentcards.WellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var card map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&card); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	checks := []struct {
		what string
		got  any
		want any
	}{
		{"url", card["url"], relayURL},
		{"preferredTransport", card["preferredTransport"], "JSONRPC"},
		{"protocolVersion", card["protocolVersion"], "0.3.0"},
		{"additionalInterfaces", card["additionalInterfaces"], nil},
		{"signatures", card["signatures"], nil},
		{"interface 0", dig(card, "supportedInterfaces", 0), map[string]any{"url": relayURL, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}},
		{"interface 1", dig(card, "supportedInterfaces", 1), map[string]any{"url": relayURL, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"}},
		{"interface count", len(dig(card, "supportedInterfaces").([]any)), 2},
		{"skill", dig(card, "skills", 0, "id"), "refunds"},
		{"name", card["name"], "Billing Desk"},
		{"scheme", dig(card, "securitySchemes", "bearer", "scheme"), "bearer"},
		{"1.0 scheme", dig(card, "securitySchemes", "bearer", "httpAuthSecurityScheme", "scheme"), "bearer"},
		{"unknown field", dig(card, "x-unknown", "kept"), true},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}

	// The rewritten card is what a client uses: a message through it.
	client := env.client(t, "Billing%20Desk", nil)
	if _, err := client.SendMessage(t.Context(), &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "hi"})}); err != nil {
		t.Fatalf("message/send through the rewritten card: %v", err)
	}

	// A 1.0-only agent's card gets the 0.3 fields too.
	only := startAgent1(t, "modern", newCompleteExecutor1("modern"), speaks10)
	env.register(t, only)
	modern := env.client(t, "modern", nil)
	res, err := modern.SendMessage(t.Context(), &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "hi"})})
	if err != nil {
		t.Fatalf("0.3 client to a 1.0 agent: %v", err)
	}
	if task, ok := res.(*a2ago.Task); !ok || task.Status.State != a2ago.TaskStateCompleted {
		t.Errorf("0.3 client to a 1.0 agent: %#v", res)
	}
	if m := only.last(t).method; m != "SendMessage" {
		t.Errorf("the 1.0 agent got %q", m)
	}
}

// TestRewriteCard: a table of cards in both versions.
func TestRewriteCard(t *testing.T) {
	const relayURL = "https://parley.example/a2a/agents/x"
	card03, _ := json.Marshal(agentcardstest.Card03("x", "https://x.example/rpc"))
	card10, _ := compat.CardTo10(card03)
	both, _ := compat.CardWith10(card03, nil)
	for name, in := range map[string][]byte{"0.3": card03, "1.0": card10, "both": both} {
		t.Run(name, func(t *testing.T) {
			out, err := relay.RewriteCard(in, relayURL)
			if err != nil {
				t.Fatal(err)
			}
			ifaces, err := compat.CardInterfaces(out)
			if err != nil {
				t.Fatal(err)
			}
			var versions []compat.Version
			for _, i := range ifaces {
				if i.URL != relayURL || i.ProtocolBinding != compat.BindingJSONRPC {
					t.Errorf("interface %+v does not point at the relay", i)
				}
				versions = append(versions, i.Version())
			}
			if !slices.Contains(versions, compat.V10) || !slices.Contains(versions, compat.V03) {
				t.Errorf("versions = %v, want 1.0 and 0.3", versions)
			}
			if strings.Contains(string(out), "x.example") {
				t.Errorf("the agent's own URL is still in the card: %s", out)
			}
			var a2aCard a2ago.AgentCard
			if err := json.Unmarshal(out, &a2aCard); err != nil || a2aCard.URL != relayURL || a2aCard.Name != "x" {
				t.Errorf("as a2a-go reads it: %+v, %v", a2aCard, err)
			}
		})
	}
}

// TestRelayIdentity: the caller authenticated in front of the relay (an
// auth.Principal in the request context) is who the agent hears of and
// who the task is recorded for; a caller cannot put words in Parley's
// mouth through the metadata; the gateway's own credentials for the agent
// go out instead of the caller's, and failing to get them fails the call
// with an error naming the agent.
func TestRelayIdentity(t *testing.T) {
	env := newRelayEnvWith(t, func(o *relay.Options) {
		o.Principal = nil
		o.Outbound = func(agent string, req *http.Request) error {
			if agent == "locked" {
				return errors.New("no credentials configured")
			}
			req.Header.Set("Authorization", "Bearer gateway-token-for-"+agent)
			return nil
		}
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &auth.Principal{Subject: r.Header.Get(userHeader), Issuer: "https://issuer.example"}
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	})
	exec := newCompleteExecutor("billing")
	agent := startAgent(t, "billing", exec)
	env.register(t, agent)
	env.register(t, startAgent(t, "locked", newCompleteExecutor("locked")))

	status, answers := rpc(t, env.url("billing"), map[string]string{userHeader: "dana", "Authorization": "Bearer the-callers-token"}, map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": map[string]any{"message": map[string]any{
			"kind": "message", "messageId": "m-1", "role": "user", "parts": []any{map[string]any{"kind": "text", "text": "hi"}},
			"metadata": map[string]any{"trace": "kept", "parley": map[string]any{"caller": "root", "on_behalf_of": map[string]any{"sub": "root"}}},
		}},
	})
	if status != http.StatusOK || answers[0]["error"] != nil {
		t.Fatalf("HTTP %d: %v", status, answers)
	}
	md := <-exec.metadata
	for path, want := range map[string]any{
		"parley.caller":           "dana",
		"parley.via":              "parley",
		"parley.on_behalf_of.sub": "dana",
		"parley.on_behalf_of.iss": "https://issuer.example",
		"trace":                   "kept",
	} {
		var keys []any
		for _, k := range strings.Split(path, ".") {
			keys = append(keys, k)
		}
		if got := dig(md, keys...); got != want {
			t.Errorf("metadata %s = %v, want %v (metadata %v)", path, got, want, md)
		}
	}
	if got := agent.last(t).header.Get("Authorization"); got != "Bearer gateway-token-for-billing" {
		t.Errorf("the agent got Authorization %q, want the gateway's own", got)
	}
	taskID, _ := dig(answers[0], "result", "id").(string)
	if rec := env.waitRelayed(t, "billing", taskID, "completed"); rec.Caller != "dana" {
		t.Errorf("recorded %+v", rec)
	}

	_, answers = rpc(t, env.url("locked"), map[string]string{userHeader: "dana"}, map[string]any{
		"jsonrpc": "2.0", "id": 2, "method": "message/send", "params": map[string]any{"message": message03("hi")},
	})
	if msg, _ := dig(answers[0], "error", "message").(string); !strings.Contains(msg, `agent "locked": Parley could not get its own credentials for the agent`) ||
		strings.Contains(msg, "no credentials configured") { // the gateway's configuration is for its log
		t.Errorf("answer = %v", answers[0])
	}
}

// TestRelayAuthorize: a caller the policy does not let message the agent is
// refused, naming the agent and the rule; an allowed caller goes through.
func TestRelayAuthorize(t *testing.T) {
	// As auth's A2A face does, a middleware puts the caller's principal in
	// the request context, where Authorize reads it.
	withPrincipal := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := &auth.Principal{Subject: r.Header.Get(userHeader)}
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	}
	env := newRelayEnvWith(t, func(o *relay.Options) {
		o.Authorize = func(ctx context.Context, agent string) error {
			if p, _ := auth.FromContext(ctx); p.Name() == "mallory" {
				return errors.New(`policy rule "default-deny"`)
			}
			return nil
		}
	}, withPrincipal)
	exec := newCompleteExecutor("billing")
	env.register(t, startAgent(t, "billing", exec))
	msg := func() *a2ago.MessageSendParams {
		return &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "refund 350"})}
	}
	_, err := env.client(t, "billing", map[string]string{userHeader: "mallory"}).SendMessage(t.Context(), msg())
	if err == nil || !strings.Contains(err.Error(), `agent "billing": not allowed`) || !strings.Contains(err.Error(), "default-deny") {
		t.Errorf("mallory's message/send: %v, want a refusal naming the agent and the rule", err)
	}
	if _, err := env.client(t, "billing", map[string]string{userHeader: "alice"}).SendMessage(t.Context(), msg()); err != nil {
		t.Errorf("alice's message/send: %v", err)
	}
}

// TestRelayCardDeclaresParleysSecurity: with Parley's schemes set, the
// rewritten card asks callers for Parley's credentials, not the agent's.
func TestRelayCardDeclaresParleysSecurity(t *testing.T) {
	env := newRelayEnvWith(t, func(o *relay.Options) {
		o.SecuritySchemes = a2ago.NamedSecuritySchemes{"parley-oidc": a2ago.OpenIDConnectSecurityScheme{OpenIDConnectURL: "https://idp.example.com/.well-known/openid-configuration"}}
		o.Security = []a2ago.SecurityRequirements{{"parley-oidc": a2ago.SecuritySchemeScopes{}}}
	}, nil)
	env.register(t, startAgent(t, "billing", newCompleteExecutor("billing")))
	resp, err := http.Get(env.url("billing") + agentcards.WellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var card map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&card); err != nil {
		t.Fatal(err)
	}
	schemes, _ := card["securitySchemes"].(map[string]any)
	if len(schemes) != 1 || schemes["parley-oidc"] == nil {
		t.Errorf("securitySchemes = %v, want only Parley's", card["securitySchemes"])
	}
	if sec := fmt.Sprint(card["security"]); !strings.Contains(sec, "parley-oidc") {
		t.Errorf("security = %v", card["security"])
	}
}
