package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	legacya2a "github.com/a2aproject/a2a-go/a2a"
	legacysrv "github.com/a2aproject/a2a-go/a2asrv"
	legacyq "github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/google/go-cmp/cmp"

	parleya2a "github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store/sqlite"
)

// restAnswer is what the tests compare of a REST answer: its HTTP status,
// and of an error its google.rpc status, the reason of its A2A ErrorInfo
// and its message.
type restAnswer struct {
	HTTP                    int
	Status, Reason, Message string
}

// postREST POSTs body to the relay's REST face for agent at path (under
// its /rest), as user, with the given A2A-Version ("": none), and returns
// the answer's summary and its document.
func postREST(t *testing.T, env *bindingsEnv, agent, path, user, version, body string) (restAnswer, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.url(agent)+"/rest"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(userHeader, user)
	if version != "" {
		req.Header.Set(compat.HeaderVersion, version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST %s: Content-Type %q, want application/json", path, ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("POST %s: HTTP %d %q: %v", path, resp.StatusCode, raw, err)
	}
	out := restAnswer{HTTP: resp.StatusCode}
	if e, ok := doc["error"].(map[string]any); ok {
		out.Status, _ = e["status"].(string)
		out.Message, _ = e["message"].(string)
		if code, _ := e["code"].(float64); int(code) != resp.StatusCode {
			t.Errorf("POST %s: error code %v in an HTTP %d answer", path, e["code"], resp.StatusCode)
		}
		details, _ := e["details"].([]any)
		for _, d := range details {
			if m, _ := d.(map[string]any); m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" && m["domain"] == "a2a-protocol.org" {
				out.Reason, _ = m["reason"].(string)
				md, _ := m["metadata"].(map[string]any)
				for k, v := range md {
					if _, ok := v.(string); !ok {
						t.Errorf("POST %s: ErrorInfo metadata %q = %v, not a string", path, k, v)
					}
				}
			}
		}
	}
	return out, doc
}

// sendBody is a REST message:send body: text from the user, continuing
// task if not "".
func sendBody(text, task string) string {
	msg := map[string]any{"messageId": a2a.NewMessageID(), "role": "ROLE_USER", "parts": []any{map[string]any{"text": text}}}
	if task != "" {
		msg["taskId"] = task
	}
	b, _ := json.Marshal(map[string]any{"message": msg})
	return string(b)
}

// ---------------------------------------------------------------- agents

// restAgent is a relayed agent for these tests, of either kind (an a2a-go
// v2 agent serving 1.0 JSON-RPC, an a2a-go v0.3 agent serving 0.3
// JSON-RPC), running the bindings tests' script (scriptAgent) and
// answering "unsupported" with its SDK's unsupported-operation error.
type restAgent struct {
	name  string
	calls func() int
}

func startRESTAgent(t *testing.T, env *relayEnv, kind agentKind, name string) *restAgent {
	t.Helper()
	a := &restAgent{name: name}
	switch kind {
	case agentV2JSONRPC10:
		p := agentcardstest.NewPeer1(t, name, unsupported1{script1{name: name}}, agentcardstest.BindingJSONRPC)
		a.calls = func() int { return int(p.Calls(agentcardstest.BindingJSONRPC)) }
		if _, err := env.reg.Register(t.Context(), agentcards.Registration{URL: p.URL()}); err != nil {
			t.Fatal(err)
		}
	case agentLegacy03:
		ag := startAgent(t, name, unsupported03{&script03{name: name, hold: newHoldExecutor()}})
		a.calls = func() int { return len(ag.requests()) }
		env.register(t, ag)
	}
	return a
}

// unsupported1 is script1 refusing "unsupported" (a2a-go v2).
type unsupported1 struct{ script1 }

func (u unsupported1) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	if ec.Message != nil && len(ec.Message.Parts) == 1 && ec.Message.Parts[0].Text() == "unsupported" {
		return func(yield func(a2a.Event, error) bool) { yield(nil, a2a.ErrUnsupportedOperation) }
	}
	return u.script1.Execute(ctx, ec)
}

// unsupported03 is script03 refusing "unsupported" (a2a-go v0.3).
type unsupported03 struct{ *script03 }

func (u unsupported03) Execute(ctx context.Context, reqCtx *legacysrv.RequestContext, q legacyq.Queue) error {
	if textOf(reqCtx.Message) == "unsupported" {
		return legacya2a.ErrUnsupportedOperation
	}
	return u.script03.Execute(ctx, reqCtx, q)
}

// ---------------------------------------------------------------- tests

// withPush is a message:send body asking for push notifications to url.
func withPush(url string) string {
	var m map[string]any
	_ = json.Unmarshal([]byte(sendBody("quick", "")), &m)
	m["configuration"] = map[string]any{"taskPushNotificationConfig": map[string]any{"url": url}}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestRelayRESTSendAnswersAsTheTypedPath: a REST message:send relayed by
// the JSON-RPC relay (no A2A-Version, or 1.0) is answered as the typed path
// (a2a-go's REST handler and the forwarder, which a request naming A2A 0.3
// still takes) answers it, to an a2a-go v2 agent and to an a2a-go v0.3
// agent: the result, and each kind of error (the agent's own and Parley's
// refusals alike) with the same HTTP status and document: google.rpc
// status, message, details (the agent and the cause) and ErrorInfo
// reason, all but its time.
func TestRelayRESTSendAnswersAsTheTypedPath(t *testing.T) {
	env := newBindingsEnvWith(t, func(o *relay.Options) {
		// The agents live on loopback (the registry allows it); the
		// callbacks get the default, strict policy.
		o.Guard = agentcards.NewGuard(agentcards.GuardOptions{Resolver: pushResolver})
	})
	for _, kind := range []agentKind{agentV2JSONRPC10, agentLegacy03} {
		t.Run(string(kind), func(t *testing.T) {
			name := strings.NewReplacer(" ", "-", ",", "", ".", "").Replace("same-" + string(kind))
			agent := startRESTAgent(t, env.relayEnv, kind, name)
			_, doc := postREST(t, env, name, "/message:send", "alice", "", sendBody("quick", ""))
			task, _ := dig(doc, "task", "id").(string)
			if task == "" {
				t.Fatalf("alice's send: %v", doc)
			}
			env.waitRelayed(t, name, task, "completed")
			agentSays := map[agentKind]string{agentV2JSONRPC10: ": message ID is required: invalid params", agentLegacy03: ": invalid params"}[kind]
			tests := []struct {
				name, agent, user, body string
				want                    restAnswer
				agentCalled             bool
			}{
				{"completes", name, "alice", sendBody("quick", ""), restAnswer{HTTP: 200}, true},
				{"unknown task", name, "alice", sendBody("quick", "no-such-task"),
					restAnswer{404, "NOT_FOUND", "TASK_NOT_FOUND", `agent "` + name + `": task not found`}, true},
				{"another caller's task", name, "bob", sendBody("more", task),
					restAnswer{404, "NOT_FOUND", "TASK_NOT_FOUND", `agent "` + name + `": task not found`}, false},
				{"invalid params", name, "alice", `{"message":{"role":"ROLE_USER","parts":[{"text":"quick"}]}}`,
					restAnswer{400, "INVALID_ARGUMENT", "INVALID_PARAMS", `agent "` + name + `"` + agentSays}, true},
				{"unsupported", name, "alice", sendBody("unsupported", ""),
					restAnswer{400, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION", `agent "` + name + `": `}, true},
				{"push notifications not supported", name, "alice", withPush("http://public.example/hook"),
					restAnswer{400, "FAILED_PRECONDITION", "PUSH_NOTIFICATION_NOT_SUPPORTED", `agent "` + name + `": `}, true},
				{"may not message the agent", name, mallory, sendBody("quick", ""),
					restAnswer{403, "PERMISSION_DENIED", "UNAUTHORIZED", `agent "` + name + `": not allowed: mallory may not message ` + name}, false},
				{"callback refused", name, "alice", withPush("http://internal.example/hook"),
					restAnswer{400, "INVALID_ARGUMENT", "INVALID_PARAMS", `the push-notification callback URL "http://internal.example/hook" is not allowed`}, false},
				{"not registered", "nobody", "alice", sendBody("quick", ""),
					restAnswer{400, "INVALID_ARGUMENT", "INVALID_REQUEST", `agent "nobody" is not registered with Parley`}, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var answers [2]restAnswer
					var docs [2]map[string]any
					for i, version := range []string{"", "0.3"} { // the relay's, the typed path's
						before := agent.calls()
						got, doc := postREST(t, env, tt.agent, "/message:send", tt.user, version, tt.body)
						if called := agent.calls() > before; called != tt.agentCalled {
							t.Errorf("A2A-Version %q: agent called: %v, want %v", version, called, tt.agentCalled)
						}
						if got.HTTP == http.StatusOK {
							if id, _ := dig(doc, "task", "id").(string); id == "" || dig(doc, "task", "status", "state") != "TASK_STATE_COMPLETED" {
								t.Errorf("A2A-Version %q: %v, want a completed task", version, doc)
							}
							doc = nil
						}
						if info, _ := dig(doc, "error", "details", 1, "metadata").(map[string]any); info != nil {
							if ts, _ := info["timestamp"].(string); ts == "" {
								t.Errorf("A2A-Version %q: no time in %v", version, doc)
							}
							delete(info, "timestamp")
						}
						answers[i], docs[i] = got, doc
					}
					got := answers[0]
					if strings.HasPrefix(got.Message, tt.want.Message) {
						got.Message = tt.want.Message // the start says enough
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("through the JSON-RPC relay (-want +got):\n%s", diff)
					}
					if diff := cmp.Diff(docs[1], docs[0]); diff != "" {
						t.Errorf("the JSON-RPC relay's answer (+) and the typed path's (-) differ:\n%s", diff)
					}
				})
			}
		})
	}
}

// TestRelayRESTSend: a2a-go v2's REST client, through the relay's REST face
// to an a2a-go v2 agent and to an a2a-go v0.3 agent: a message completes
// its task, which is recorded for its caller and which the caller then
// reads over REST and JSON-RPC; the errors are the kinds they are (task
// not found, invalid params, unsupported operation, permission denied),
// naming the agent; and another caller's task named in a message reads as
// not found without the agent being called.
func TestRelayRESTSend(t *testing.T) {
	env := newBindingsEnv(t)
	for _, kind := range []agentKind{agentV2JSONRPC10, agentLegacy03} {
		t.Run(string(kind), func(t *testing.T) {
			name := strings.NewReplacer(" ", "-", ",", "", ".", "").Replace("client-" + string(kind))
			agent := startRESTAgent(t, env.relayEnv, kind, name)
			client := env.client(t, name, viaREST10)
			ctx := t.Context()
			alice, bob := as(ctx, "alice"), as(ctx, "bob")

			res, err := client.SendMessage(alice, userMessage("quick"))
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			task, ok := res.(*a2a.Task)
			if !ok {
				t.Fatalf("send returned %T, want a task", res)
			}
			if diff := cmp.Diff("task completed "+name+" did: quick", summary(task)); diff != "" {
				t.Errorf("send (-want +got):\n%s", diff)
			}
			if rec := env.waitRelayed(t, name, string(task.ID), "completed"); rec.Caller != "alice" {
				t.Errorf("recorded caller %q, want alice", rec.Caller)
			}
			got, err := client.GetTask(alice, &a2a.GetTaskRequest{ID: task.ID})
			if err != nil || got.ID != task.ID || got.Status.State != a2a.TaskStateCompleted {
				t.Errorf("get over REST = %v, %v", got, err)
			}
			_, answers := rpc(t, env.url(name), map[string]string{userHeader: "alice", compat.HeaderVersion: "1.0"},
				map[string]any{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": map[string]any{"id": string(task.ID)}})
			if len(answers) != 1 || dig(answers[0], "result", "id") != string(task.ID) || dig(answers[0], "result", "status", "state") != "TASK_STATE_COMPLETED" {
				t.Errorf("get over JSON-RPC = %v", answers)
			}

			noMessageID := userMessage("quick")
			noMessageID.Message.ID = ""
			continuing := func(text string, id a2a.TaskID) *a2a.SendMessageRequest {
				m := userMessage(text)
				m.Message.TaskID = id
				return m
			}
			tests := []struct {
				name        string
				ctx         context.Context
				req         *a2a.SendMessageRequest
				want        error
				says        string
				agentCalled bool
			}{
				{"unknown task", alice, continuing("quick", "no-such-task"), a2a.ErrTaskNotFound, `agent "` + name + `": task not found`, true},
				{"another caller's task", bob, continuing("more", task.ID), a2a.ErrTaskNotFound, `agent "` + name + `": task not found`, false},
				{"invalid params", alice, noMessageID, a2a.ErrInvalidParams, `agent "` + name + `"`, true},
				{"unsupported", alice, userMessage("unsupported"), a2a.ErrUnsupportedOperation, `agent "` + name + `"`, true},
				{"may not message the agent", as(ctx, mallory), userMessage("quick"), a2a.ErrUnauthorized, "not allowed", false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := agent.calls()
					_, err := client.SendMessage(tt.ctx, tt.req)
					if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
						t.Errorf("send = %v, want %v saying %q", err, tt.want, tt.says)
					}
					if called := agent.calls() > before; called != tt.agentCalled {
						t.Errorf("agent called: %v, want %v", called, tt.agentCalled)
					}
				})
			}
		})
	}
}

// TestRelayRESTSendTakesTheJSONRPCRelay: a REST message:send of A2A 1.0
// reaches the agent over JSON-RPC, through the JSON-RPC relay, even when
// the agent's card prefers REST (the typed path's client calls an agent
// over the interface its card lists first); and the typed path still
// serves what the JSON-RPC relay does not: an agent without JSON-RPC, 0.3
// REST, streaming, a request naming A2A 0.3, and a body whose members a
// lenient decoder could read otherwise than the relay's checks.
func TestRelayRESTSendTakesTheJSONRPCRelay(t *testing.T) {
	env := newBindingsEnv(t)
	rest, jsonrpc := agentcardstest.BindingREST, agentcardstest.BindingJSONRPC
	rest03, jsonrpc03 := agentcardstest.BindingREST03, agentcardstest.BindingJSONRPC03
	send := func(via callerBinding) func(t *testing.T, name string) {
		return func(t *testing.T, name string) {
			res, err := env.client(t, name, via).SendMessage(as(t.Context(), "alice"), userMessage("hi"))
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			if diff := cmp.Diff("message "+name+" echoes: hi", summary(res)); diff != "" {
				t.Errorf("send (-want +got):\n%s", diff)
			}
		}
	}
	post := func(version, body string) func(t *testing.T, name string) {
		return func(t *testing.T, name string) {
			got, doc := postREST(t, env, name, "/message:send", "alice", version, body)
			if got.HTTP != http.StatusOK || dig(doc, "message", "parts", 0, "text") != name+" echoes: hi" {
				t.Errorf("send: %+v %v", got, doc)
			}
		}
	}
	hi := func(extra string) string {
		return `{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hi"}]` + extra + `}}`
	}
	tests := []struct {
		name     string
		bindings []string // the agent's card's, in its order
		call     func(t *testing.T, name string)
		want     map[string]int64 // the agent's calls per binding
	}{
		{"REST 1.0 to an agent preferring REST", []string{rest, jsonrpc}, send(viaREST10), map[string]int64{jsonrpc: 1}},
		{"no A2A-Version", []string{rest, jsonrpc}, post("", hi("")), map[string]int64{jsonrpc: 1}},
		{"A2A-Version 1.0", []string{rest, jsonrpc}, post("1.0", hi("")), map[string]int64{jsonrpc: 1}},
		{"REST 1.0 to a 0.3 agent preferring REST", []string{rest03, jsonrpc03}, send(viaREST10), map[string]int64{jsonrpc03: 1}},
		// (Its relayed card cannot be served: a client knows the URL.)
		{"an agent without JSON-RPC", []string{rest}, post("", hi("")), map[string]int64{rest: 1}},
		{"REST 0.3", []string{rest, jsonrpc}, send(viaREST03), map[string]int64{rest: 1}},
		{"A2A-Version 0.3", []string{rest, jsonrpc}, post("0.3", hi("")), map[string]int64{rest: 1}},
		{"streaming", []string{rest, jsonrpc}, func(t *testing.T, name string) {
			for ev, err := range env.client(t, name, viaREST10).SendStreamingMessage(as(t.Context(), "alice"), userMessage("hi")) {
				if err != nil || summary(ev) != "message "+name+" echoes: hi" {
					t.Errorf("stream: %v, %v", summary(ev), err)
				}
			}
		}, map[string]int64{rest: 1}},
		{"a member spelled twice", []string{rest, jsonrpc}, post("", hi(`,"metadata":{},"META_DATA":{}`)), map[string]int64{rest: 1}},
		{"a member named outside ASCII", []string{rest, jsonrpc}, post("", hi(`,"taſkId":""`)), map[string]int64{rest: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("path-%d", i)
			p := agentcardstest.NewPeer1(t, name, nil, tt.bindings...)
			if _, err := env.reg.Register(t.Context(), agentcards.Registration{URL: p.URL()}); err != nil {
				t.Fatal(err)
			}
			tt.call(t, name)
			got := map[string]int64{}
			for _, b := range []string{rest, jsonrpc, rest03, jsonrpc03} {
				if n := p.Calls(b); n > 0 {
					got[b] = n
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("the agent's calls per binding (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRelayRESTSendAudit: a REST message:send relayed by the JSON-RPC
// relay is recorded as the typed path records it (each call made both
// ways: no A2A-Version, and A2A 0.3), with the audit middleware in front
// as serve wires it: a relayed call to the agent as registered, naming the
// method, the caller and the task; a caller who may not message the
// agent, or names another caller's task, denied with the reason; an
// agent's error failed.
func TestRelayRESTSendAudit(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	counter := &appendCounter{Audit: st, appended: make(chan struct{}, 1000)}
	log := audit.New(counter, audit.Options{Principal: func(ctx context.Context) audit.Principal {
		name, _ := ctx.Value(auditUserKey{}).(string)
		return audit.Principal{Subject: name}
	}})
	// As app's describeRelay, the record naming the method.
	describe := func(r *http.Request, method string) (audit.Entry, bool) {
		name, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, relay.Path+"/"), "/")
		if rest, ok := strings.CutPrefix(sub, "rest"); ok {
			method = parleya2a.RESTMethod(r.Method, rest)
		}
		return audit.Entry{Action: audit.ActionA2ARelay, Target: name, Method: method}, method != "" && name != ""
	}
	env := newRelayEnvWith(t, func(o *relay.Options) {
		reg := o.Registry.(*agentcards.Registry)
		pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
		t.Cleanup(pool.Close)
		o.Clients = pool
		o.Authorize = func(ctx context.Context, agent string) error {
			if name, _ := headerPrincipal(ctx); name == mallory {
				return fmt.Errorf("%s may not message %s", name, agent)
			}
			return nil
		}
	}, func(h http.Handler) http.Handler {
		inner := audit.Middleware(log, describe)(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), auditUserKey{}, r.Header.Get(userHeader))))
		})
	})
	benv := &bindingsEnv{relayEnv: env}
	startRESTAgent(t, env, agentLegacy03, "Billing")
	last := func() auditRow {
		t.Helper()
		wctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		counter.wait(t, wctx, 1)
		recs, _, err := log.List(wctx, audit.Filter{Limit: 1000})
		if err != nil || len(recs) == 0 {
			t.Fatalf("audit records: %d, %v", len(recs), err)
		}
		return rowOf(t, recs[len(recs)-1])
	}
	_, doc := postREST(t, benv, "billing", "/message:send", "alice", "", sendBody("quick", ""))
	task, _ := dig(doc, "task", "id").(string)
	if diff := cmp.Diff(auditRow{"alice", audit.ActionA2ARelay, "Billing", audit.OK, task, "SendMessage", ""}, last()); diff != "" {
		t.Errorf("alice's send (-want +got):\n%s", diff)
	}
	env.waitRelayed(t, "Billing", task, "completed")
	tests := []struct {
		name, user, body string
		want             auditRow
	}{
		{"another caller's task", "bob", sendBody("more", task),
			auditRow{"bob", audit.ActionA2ARelay, "Billing", audit.Denied, task, "SendMessage", "the task belongs to another caller"}},
		{"may not message the agent", mallory, sendBody("quick", ""),
			auditRow{mallory, audit.ActionA2ARelay, "Billing", audit.Denied, "", "SendMessage", "the caller may not message the agent"}},
		{"the agent's error", "alice", sendBody("unsupported", ""),
			auditRow{"alice", audit.ActionA2ARelay, "Billing", audit.Error, "", "SendMessage", "agent_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, version := range []string{"", "0.3"} { // the relay's, the typed path's
				postREST(t, benv, "billing", "/message:send", tt.user, version, tt.body)
				if diff := cmp.Diff(tt.want, last()); diff != "" {
					t.Errorf("A2A-Version %q (-want +got):\n%s", version, diff)
				}
			}
		})
	}
}

// TestRelayRESTSendAgentFailures: an agent that cannot be reached, or that
// answers a message:send with what is not one answer (a stream, an error
// that is not an object), is an internal error naming it, in the REST
// form.
func TestRelayRESTSendAgentFailures(t *testing.T) {
	env := newBindingsEnv(t)
	// rawAgent is an A2A 1.0 agent on JSON-RPC whose every call answer is
	// answer.
	rawAgent := func(name string, answer func(w http.ResponseWriter)) {
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		card := agentcardstest.Card1(name, agentcardstest.Skill1("echo", "Echo", "echo"))
		card.SupportedInterfaces = []*a2a.AgentInterface{a2a.NewAgentInterface(srv.URL+"/jsonrpc", a2a.TransportProtocolJSONRPC)}
		mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(card))
		mux.HandleFunc("POST /jsonrpc", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			answer(w)
		})
		if _, err := env.reg.Register(t.Context(), agentcards.Registration{URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	rawAgent("streamer", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t-streamed","contextId":"c1","status":{"state":"TASK_STATE_WORKING"}}}}`+"\n\n")
	})
	rawAgent("stringy", func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":"no"}`)
	})
	gone := agentcardstest.NewPeer1(t, "gone", nil, agentcardstest.BindingJSONRPC)
	if _, err := env.reg.Register(t.Context(), agentcards.Registration{URL: gone.URL()}); err != nil {
		t.Fatal(err)
	}
	gone.Stop()

	tests := []struct {
		agent string
		want  restAnswer
	}{
		{"streamer", restAnswer{500, "INTERNAL", "INVALID_AGENT_RESPONSE", `agent "streamer" answered with a stream where one answer was due`}},
		{"stringy", restAnswer{500, "INTERNAL", "INVALID_AGENT_RESPONSE", `agent "stringy" answered with something that is not an A2A answer`}},
		{"gone", restAnswer{500, "INTERNAL", "INTERNAL_ERROR", `agent "gone" is unreachable`}},
	}
	for _, tt := range tests {
		t.Run(tt.agent, func(t *testing.T) {
			got, _ := postREST(t, env, tt.agent, "/message:send", "alice", "", sendBody("quick", ""))
			if strings.HasPrefix(got.Message, tt.want.Message) {
				got.Message = tt.want.Message
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
