package relay_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
)

// callbackResolver resolves the names the push tests invent; any other
// fails as a real resolver does, naming its own address (which must not
// reach the caller).
type callbackResolver map[string]string

func (r callbackResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.255.255.53:53", IsNotFound: true}
}

var pushResolver = callbackResolver{"public.example": "93.184.216.34", "internal.example": "10.0.0.5"}

// Push-notification callbacks in relayed requests pass the registry's
// guard, in both versions' methods and shapes, whatever the agent speaks:
// a refused one is an invalid-params error saying the callback URL is not
// allowed, and the agent receives nothing.
func TestRelayRefusesPushCallbacks(t *testing.T) {
	env := newRelayEnvWith(t, func(o *relay.Options) {
		// The agents live on loopback (the registry allows it); the
		// callbacks get the default, strict policy.
		o.Guard = agentcards.NewGuard(agentcards.GuardOptions{Resolver: pushResolver})
	}, nil)
	a03 := startAgent(t, "old", newCompleteExecutor("old"))
	a10 := startAgent1(t, "new", newCompleteExecutor1("new"), speaks10)
	env.register(t, a03)
	env.register(t, a10)

	const meta = "http://169.254.169.254/latest/meta-data/"
	set03 := func(u any) map[string]any {
		return map[string]any{"taskId": "t1", "pushNotificationConfig": map[string]any{"url": u}}
	}
	send03 := func(u string) map[string]any {
		return map[string]any{"message": message03("hi"), "configuration": map[string]any{"pushNotificationConfig": map[string]any{"url": u}}}
	}
	send10 := func(u string) map[string]any {
		return map[string]any{"message": message10("hi"), "configuration": map[string]any{"taskPushNotificationConfig": map[string]any{"url": u}}}
	}
	tests := []struct {
		name    string
		agent   *testAgent
		version compat.Version
		method  string
		params  map[string]any
		url     string
		reason  string
	}{
		{"0.3 set, metadata address", a03, compat.V03, "tasks/pushNotificationConfig/set", set03(meta), meta, "cloud metadata"},
		{"0.3 set to a 1.0 agent", a10, compat.V03, "tasks/pushNotificationConfig/set", set03(meta), meta, "cloud metadata"},
		{"0.3 send", a03, compat.V03, "message/send", send03("http://10.1.2.3/hook"), "http://10.1.2.3/hook", "private"},
		{"0.3 stream", a03, compat.V03, "message/stream", send03("http://[::1]:8080/hook"), "http://[::1]:8080/hook", "loopback"},
		{"1.0 create, flat", a10, compat.V10, "CreateTaskPushNotificationConfig", map[string]any{"taskId": "t1", "url": meta}, meta, "cloud metadata"},
		{"1.0 create to a 0.3 agent", a03, compat.V10, "CreateTaskPushNotificationConfig", map[string]any{"taskId": "t1", "url": meta}, meta, "cloud metadata"},
		{"1.0 send", a10, compat.V10, "SendMessage", send10(meta), meta, "cloud metadata"},
		{"1.0 stream to a 0.3 agent", a03, compat.V10, "SendStreamingMessage", send10(meta), meta, "cloud metadata"},
		{"1.0 send, snake_case", a10, compat.V10, "SendMessage", map[string]any{"message": message10("hi"),
			"configuration": map[string]any{"task_push_notification_config": map[string]any{"url": meta}}}, meta, "cloud metadata"},
		{"member names in another case", a03, compat.V03, "message/send", map[string]any{"message": message03("hi"),
			"configuration": map[string]any{"PushNotificationConfig": map[string]any{"URL": meta}}}, meta, "cloud metadata"},
		{"a name resolving to a private address", a03, compat.V03, "tasks/pushNotificationConfig/set", set03("http://internal.example/hook"), "http://internal.example/hook", "private"},
		{"localhost", a03, compat.V03, "tasks/pushNotificationConfig/set", set03("http://localhost:9/hook"), "http://localhost:9/hook", "loopback"},
		{"a name that does not resolve", a03, compat.V03, "tasks/pushNotificationConfig/set", set03("http://hook.parley-test.invalid/"), "http://hook.parley-test.invalid/", "host hook.parley-test.invalid could not be resolved"},
		{"not http", a03, compat.V03, "tasks/pushNotificationConfig/set", set03("file:///etc/passwd"), "file:///etc/passwd", "http or https"},
		{"a url that is not a string", a03, compat.V03, "tasks/pushNotificationConfig/set", set03(2852039166), "2852039166", "http or https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{}
			if tt.version == compat.V10 {
				header[compat.HeaderVersion] = "1.0"
			}
			before := len(tt.agent.requests())
			_, answers := rpc(t, env.url(tt.agent.name), header, map[string]any{"jsonrpc": "2.0", "id": "p1", "method": tt.method, "params": tt.params})
			if len(answers) != 1 {
				t.Fatalf("answers = %v, want one error", answers)
			}
			msg, _ := dig(answers[0], "error", "message").(string)
			if dig(answers[0], "error", "code") != float64(compat.CodeInvalidParams) || answers[0]["id"] != "p1" ||
				!strings.Contains(msg, `push-notification callback URL "`+tt.url+`" is not allowed`) || !strings.Contains(msg, tt.reason) {
				t.Errorf("answer = %v, want invalid params: callback URL %q is not allowed (%s)", answers[0], tt.url, tt.reason)
			}
			for _, leak := range []string{":53", "lookup ", "dial tcp", "*net.", "DNSError"} {
				if strings.Contains(msg, leak) {
					t.Errorf("message %q carries %q", msg, leak)
				}
			}
			if got := tt.agent.requests(); len(got) != before {
				t.Errorf("the agent received %v: the request was forwarded", got[before:])
			}
		})
	}

	// An allowed callback goes through (this a2a-go agent has no push
	// support, and says so itself).
	t.Run("public callback forwarded", func(t *testing.T) {
		before := len(a03.requests())
		_, answers := rpc(t, env.url("old"), nil, map[string]any{"jsonrpc": "2.0", "id": "p2", "method": "tasks/pushNotificationConfig/set",
			"params": set03("https://public.example/hook")})
		if got := a03.requests(); len(got) != before+1 {
			t.Fatalf("agent requests %d → %d, want the call forwarded (answer %v)", before, len(got), answers)
		}
		if dig(answers[0], "error", "code") != float64(compat.CodePushNotificationNotSupported) {
			t.Errorf("answer = %v, want the agent's own push-not-supported error", answers[0])
		}
	})
}

// Without a guard of its own the relay uses the registry's, so that
// --allow-private-agent-urls (AllowPrivate) lets private callbacks
// through as it lets private agents.
func TestRelayPushCallbacksFollowAllowPrivate(t *testing.T) {
	env := newRelayEnv(t, 0) // the registry allows private addresses
	a := startAgent(t, "old", newCompleteExecutor("old"))
	env.register(t, a)
	_, answers := rpc(t, env.url("old"), nil, map[string]any{"jsonrpc": "2.0", "id": "p3", "method": "tasks/pushNotificationConfig/set",
		"params": map[string]any{"taskId": "t1", "pushNotificationConfig": map[string]any{"url": "http://127.0.0.1:9/hook"}}})
	if a.last(t).method != "tasks/pushNotificationConfig/set" {
		t.Errorf("the agent did not receive the call; answer %v", answers)
	}
	if dig(answers[0], "error", "code") != float64(compat.CodePushNotificationNotSupported) {
		t.Errorf("answer = %v, want the agent's own push-not-supported error", answers[0])
	}
}
