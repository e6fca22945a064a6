package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// auditedRelay is a relay whose calls are audited as serve.go wires it
// (audit.Middleware inside the caller's identity, records in a real SQLite
// file), with "root" for its administrator.
type auditedRelay struct {
	*relayEnv
	log     *audit.Log
	counter *appendCounter
}

func newAuditedRelay(t *testing.T) *auditedRelay {
	t.Helper()
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
	describe := func(r *http.Request, method string) (audit.Entry, bool) {
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, relay.Path+"/"), "/")
		return audit.Entry{Action: audit.ActionA2ARelay, Target: name}, method != "" && name != ""
	}
	env := newRelayEnvWith(t, func(o *relay.Options) {
		o.IsAdmin = func(ctx context.Context) bool { return ctx.Value(auditUserKey{}) == "root" }
	}, func(h http.Handler) http.Handler {
		inner := audit.Middleware(log, describe)(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), auditUserKey{}, r.Header.Get(userHeader))))
		})
	})
	return &auditedRelay{relayEnv: env, log: log, counter: counter}
}

// call sends a JSON-RPC request through the relay as user, in version v,
// waits for its audit record and returns the (first) answer and the
// record.
func (e *auditedRelay) call(t *testing.T, agent, user string, v compat.Version, method string, params map[string]any) (map[string]any, auditRow) {
	t.Helper()
	h := map[string]string{userHeader: user}
	if v == compat.V10 {
		h[compat.HeaderVersion] = string(compat.V10)
	}
	_, answers := rpc(t, e.url(agent), h, map[string]any{"jsonrpc": "2.0", "id": "req-1", "method": method, "params": params})
	if len(answers) == 0 {
		t.Fatalf("%s: no answer", method)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	e.counter.wait(t, ctx, 1)
	recs, _, err := e.log.List(ctx, audit.Filter{Limit: 1000})
	if err != nil || len(recs) == 0 {
		t.Fatalf("audit records: %d, %v", len(recs), err)
	}
	return answers[0], rowOf(t, recs[len(recs)-1])
}

// taskOfAnswer is the task an answer to a message is about, in version v.
func taskOfAnswer(t *testing.T, v compat.Version, answer map[string]any) string {
	t.Helper()
	path := []any{"result", "id"}
	if v == compat.V10 {
		path = []any{"result", "task", "id"}
	}
	id, _ := dig(answer, path...).(string)
	if id == "" {
		t.Fatalf("no task in %v", answer)
	}
	return id
}

// ownerParams are the params of each method that reaches a task, naming
// task, in the caller's version.
func ownerParams(v compat.Version, task string) map[string]map[string]any {
	const hook = "http://127.0.0.1:9/hook" // allowed: the test registry allows loopback
	if v == compat.V03 {
		cont := message03("more")
		cont["taskId"] = task
		return map[string]map[string]any{
			"tasks/get":                           {"id": task},
			"tasks/cancel":                        {"id": task},
			"tasks/resubscribe":                   {"id": task},
			"message/send":                        {"message": cont},
			"message/stream":                      {"message": cont},
			"tasks/pushNotificationConfig/set":    {"taskId": task, "pushNotificationConfig": map[string]any{"id": "c1", "url": hook}},
			"tasks/pushNotificationConfig/get":    {"id": task, "pushNotificationConfigId": "c1"},
			"tasks/pushNotificationConfig/list":   {"id": task},
			"tasks/pushNotificationConfig/delete": {"id": task, "pushNotificationConfigId": "c1"},
		}
	}
	cont := message10("more")
	cont["taskId"] = task
	return map[string]map[string]any{
		"GetTask":                          {"id": task},
		"CancelTask":                       {"id": task},
		"SubscribeToTask":                  {"id": task},
		"SendMessage":                      {"message": cont},
		"SendStreamingMessage":             {"message": cont},
		"CreateTaskPushNotificationConfig": {"taskId": task, "id": "c1", "url": hook},
		"GetTaskPushNotificationConfig":    {"taskId": task, "id": "c1"},
		"ListTaskPushNotificationConfigs":  {"taskId": task},
		"DeleteTaskPushNotificationConfig": {"taskId": task, "id": "c1"},
	}
}

// TestRelayRefusesOtherCallersTasks: through the relay, in either A2A
// version and whatever version the agent speaks, a caller cannot read,
// cancel, follow, continue or configure push notifications for a task
// another caller started: the answer is the "task not found" a relayed
// agent gives for a task it does not have, the agent receives nothing,
// and the audit record says denied, naming the task. Spelling the task's
// field otherwise does not get past the check. Before, every such call
// was forwarded: Parley calls the agent with its own credentials, so the
// agent cannot tell Parley's callers apart (issue 10, finding 8).
func TestRelayRefusesOtherCallersTasks(t *testing.T) {
	env := newAuditedRelay(t)
	agents := map[compat.Version]*testAgent{
		compat.V03: startAgent(t, "old", newCompleteExecutor("old")),
		compat.V10: startAgent1(t, "new", newCompleteExecutor1("new"), speaks10),
	}
	for _, a := range agents {
		env.register(t, a)
	}
	// Alice starts a task at each agent, in each version.
	tasks := map[[2]compat.Version]string{} // by agent version, caller version
	for av, a := range agents {
		for _, cv := range []compat.Version{compat.V03, compat.V10} {
			method, msg := "message/send", message03("start")
			if cv == compat.V10 {
				method, msg = "SendMessage", message10("start")
			}
			answer, _ := env.call(t, a.name, "alice", cv, method, map[string]any{"message": msg})
			tasks[[2]compat.Version{av, cv}] = taskOfAnswer(t, cv, answer)
		}
	}

	for av, a := range agents {
		for _, cv := range []compat.Version{compat.V03, compat.V10} {
			task := tasks[[2]compat.Version{av, cv}]
			for method, params := range ownerParams(cv, task) {
				t.Run(fmt.Sprintf("%s agent/%s caller/%s", av, cv, method), func(t *testing.T) {
					before := len(a.requests())
					answer, rec := env.call(t, a.name, "bob", cv, method, params)
					if n := len(a.requests()) - before; n != 0 {
						t.Errorf("the agent received %d requests; want none", n)
					}
					checkTaskNotFound(t, cv, a.name, answer)
					want := auditRow{"bob", audit.ActionA2ARelay, a.name, audit.Denied, task, method, "the task belongs to another caller"}
					if rec != want {
						t.Errorf("audit record\n  %+v\nwant\n  %+v", rec, want)
					}
				})
			}
		}
	}

	// The answer reads as the agent's own for a task it does not have.
	t.Run("same answer as an unknown task", func(t *testing.T) {
		for av, a := range agents {
			for _, cv := range []compat.Version{compat.V03, compat.V10} {
				method := map[compat.Version]string{compat.V03: "tasks/get", compat.V10: "GetTask"}[cv]
				denied, _ := env.call(t, a.name, "bob", cv, method, map[string]any{"id": tasks[[2]compat.Version{av, cv}]})
				unknown, _ := env.call(t, a.name, "bob", cv, method, map[string]any{"id": "no-such-task"})
				for _, field := range []string{"code", "message"} {
					if d, u := dig(denied, "error", field), dig(unknown, "error", field); d != u {
						t.Errorf("%s agent, %s caller: error %s %v for another's task, %v for an unknown one", av, cv, field, d, u)
					}
				}
			}
		}
	})

	// The task's field spelled as a lenient decoder would still read it:
	// a2a-go's (Go's encoding/json) ignores case, A2A 1.0's proto-JSON
	// (compat, here) takes snake_case.
	a := agents[compat.V03]
	task03 := tasks[[2]compat.Version{compat.V03, compat.V03}]
	task10 := tasks[[2]compat.Version{compat.V03, compat.V10}]
	task1010 := tasks[[2]compat.Version{compat.V10, compat.V10}]
	cont := message03("more")
	cont["TaskID"] = task03
	// Go's encoding/json reads "taſkId" (a long s) as taskId; the relay
	// must not take it for another member.
	folded, kelvin := message10("more"), message10("more")
	folded["ta\u017fkId"] = task1010 // a long s
	kelvin["tas\u212aId"] = task1010 // a Kelvin sign
	respelled := []struct {
		name   string
		agent  *testAgent
		v      compat.Version
		method string
		params map[string]any
		task   string
	}{
		{"ID", a, compat.V03, "tasks/get", map[string]any{"ID": task03}, task03},
		{"Id beside another id", a, compat.V03, "tasks/cancel", map[string]any{"Id": task03, "id": "no-such-task"}, ""},
		{"TaskID in a message", a, compat.V03, "message/send", map[string]any{"message": cont}, task03},
		{"snake_case task_id, translated", a, compat.V10, "GetTaskPushNotificationConfig", map[string]any{"task_id": task10, "id": "c1"}, task10},
		{"snake_case id, untranslated", agents[compat.V10], compat.V10, "GetTask", map[string]any{"i_d": "x", "id": task1010}, ""},
		{"snake_case task_id, untranslated", agents[compat.V10], compat.V10, "DeleteTaskPushNotificationConfig", map[string]any{"task_id": task1010, "id": "c1"}, task1010},
		{"1.0 method with 0.3 params", a, compat.V10, "GetTaskPushNotificationConfig", map[string]any{"id": task10, "pushNotificationConfigId": "c1"}, task10},
		// Refused as ambiguous: a member name outside ASCII, and the
		// message spelled otherwise than the relay writes the caller into
		// (the agent would read a caller made up by the sender).
		{"taskId with a long s", agents[compat.V10], compat.V10, "SendMessage", map[string]any{"message": folded}, ""},
		{"Message in capitals", agents[compat.V10], compat.V10, "SendMessage", map[string]any{"Message": message10("as alice")}, ""},
		{"taskId with a Kelvin sign", agents[compat.V10], compat.V10, "SendMessage", map[string]any{"message": kelvin}, ""},
	}
	for _, tt := range respelled {
		t.Run("spelled "+tt.name, func(t *testing.T) {
			a := tt.agent
			before := len(a.requests())
			answer, rec := env.call(t, a.name, "bob", tt.v, tt.method, tt.params)
			if n := len(a.requests()) - before; n != 0 {
				t.Errorf("the agent received %d requests; want none", n)
			}
			if tt.task == "" { // two tasks named: refused as ambiguous
				if code := dig(answer, "error", "code"); fmt.Sprint(code) != fmt.Sprint(compat.CodeInvalidParams) {
					t.Errorf("answer %v, want invalid params", answer)
				}
				return
			}
			checkTaskNotFound(t, tt.v, a.name, answer)
			if rec.Outcome != audit.Denied || rec.TaskID != tt.task {
				t.Errorf("audit record %+v, want denied naming %s", rec, tt.task)
			}
		})
	}
	t.Run("misspelled envelope", func(t *testing.T) {
		before := len(a.requests())
		_, answers := rpc(t, env.url(a.name), map[string]string{userHeader: "bob"},
			map[string]any{"jsonrpc": "2.0", "id": 1, "method": "message/send", "Method": "tasks/get", "params": map[string]any{"id": task03, "message": message03("hi")}})
		env.counter.wait(t, t.Context(), 1)
		if n := len(a.requests()) - before; n != 0 {
			t.Errorf("the agent received %d requests; want none", n)
		}
		if code := dig(answers[0], "error", "code"); fmt.Sprint(code) != fmt.Sprint(compat.CodeInvalidRequest) {
			t.Errorf("answer %v, want invalid request", answers[0])
		}
	})

	// Who may: the task's caller, from any client, and an administrator;
	// and anyone, for a task Parley has no record of.
	allowed := []struct {
		name, user, task string
	}{
		{"its caller", "alice", task03},
		{"an administrator", "root", task03},
		{"a task Parley never relayed", "bob", "made-at-the-agent"},
	}
	for _, tt := range allowed {
		t.Run("forwarded for "+tt.name, func(t *testing.T) {
			before := len(a.requests())
			_, rec := env.call(t, a.name, tt.user, compat.V03, "tasks/get", map[string]any{"id": tt.task})
			if n := len(a.requests()) - before; n != 1 {
				t.Errorf("the agent received %d requests; want 1", n)
			}
			if rec.Outcome == audit.Denied || rec.TaskID != tt.task {
				t.Errorf("audit record %+v, want not denied, naming %s", rec, tt.task)
			}
		})
	}
}

// TestRelayOwnTaskAtOnce: a caller who sends a message and at once asks
// for its task, or follows it, gets it, though the relay records tasks in
// the background; another caller asking at once is refused.
func TestRelayOwnTaskAtOnce(t *testing.T) {
	env := newRelayEnv(t, 0)
	a := startAgent(t, "quick", newCompleteExecutor("quick"))
	env.register(t, a)
	for i := range 20 {
		_, answers := rpc(t, env.url(a.name), map[string]string{userHeader: "alice"},
			map[string]any{"jsonrpc": "2.0", "id": i, "method": "message/send", "params": map[string]any{"message": message03("go")}})
		task := taskOfAnswer(t, compat.V03, answers[0])
		_, got := rpc(t, env.url(a.name), map[string]string{userHeader: "bob"},
			map[string]any{"jsonrpc": "2.0", "id": i, "method": "tasks/get", "params": map[string]any{"id": task}})
		checkTaskNotFound(t, compat.V03, a.name, got[0])
		_, got = rpc(t, env.url(a.name), map[string]string{userHeader: "alice"},
			map[string]any{"jsonrpc": "2.0", "id": i, "method": "tasks/get", "params": map[string]any{"id": task}})
		if id := dig(got[0], "result", "id"); id != task {
			t.Fatalf("alice's tasks/get right after her message/send = %v", got[0])
		}
	}
}

// checkTaskNotFound checks that answer is the relay's rendering of an
// agent's "task not found" in version v.
func checkTaskNotFound(t *testing.T, v compat.Version, agent string, answer map[string]any) {
	t.Helper()
	code, _ := dig(answer, "error", "code").(float64)
	msg, _ := dig(answer, "error", "message").(string)
	if int(code) != compat.CodeTaskNotFound || msg != fmt.Sprintf("agent %q: task not found", agent) || answer["result"] != nil {
		b, _ := json.Marshal(answer)
		t.Errorf("answer %s; want the agent's task not found", b)
		return
	}
	if v == compat.V10 {
		if reason := dig(answer, "error", "data", 0, "reason"); reason != "TASK_NOT_FOUND" {
			t.Errorf("1.0 error data %v, want TASK_NOT_FOUND first", dig(answer, "error", "data"))
		}
	}
}

// TestRelayListsOnlyTheCallersTasks: an agent lists every task Parley
// started there, whoever asked for it; through the relay, a caller's
// ListTasks keeps its own tasks and those Parley has no record of, and an
// administrator's keeps all.
func TestRelayListsOnlyTheCallersTasks(t *testing.T) {
	env := newAuditedRelay(t)
	a := startListingAgent(t, "lister", []string{"t-alice", "t-bob", "t-elsewhere"})
	env.register(t, a)
	for id, caller := range map[string]string{"t-alice": "alice", "t-bob": "bob"} {
		if err := env.st.SaveRelayedTask(t.Context(), store.RelayedTask{Agent: "lister", TaskID: id, Caller: caller, State: "completed", UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		user  string
		want  []string
		total float64
	}{
		{"bob", []string{"t-bob", "t-elsewhere"}, 2},
		{"alice", []string{"t-alice", "t-elsewhere"}, 2},
		{"root", []string{"t-alice", "t-bob", "t-elsewhere"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			answer, _ := env.call(t, a.name, tt.user, compat.V10, "ListTasks", map[string]any{})
			var got []string
			for _, task := range dig(answer, "result", "tasks").([]any) {
				got = append(got, dig(task, "id").(string))
			}
			if !slices.Equal(got, tt.want) || dig(answer, "result", "totalSize") != tt.total {
				t.Errorf("%s's ListTasks = %v (totalSize %v), want %v (%v)", tt.user, got, dig(answer, "result", "totalSize"), tt.want, tt.total)
			}
		})
	}
}
