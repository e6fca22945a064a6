package relay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	legacysrv "github.com/a2aproject/a2a-go/a2asrv"
	legacyq "github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	a2agrpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/auditgrpc"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// ---------------------------------------------------------------- the gateway side

// bindingsEnv is relayEnv with the relay's REST face (through the agent
// pool) and the gateway's gRPC port, where the relay's tenant router
// serves calls naming an agent and the gateway's own handler the rest.
type bindingsEnv struct {
	*relayEnv
	grpcTarget string
}

// grpcUserKey is the gRPC metadata naming the test's caller (userHeader).
var grpcUserKey = strings.ToLower(userHeader)

// mallory may message no agent (Options.Authorize).
const mallory = "mallory"

func newBindingsEnv(t *testing.T) *bindingsEnv { t.Helper(); return newBindingsEnvWith(t, nil) }

// newBindingsEnvWith lets the test change the relay's options, and adds
// grpcOpts to the gRPC server's options, after the interceptors that name
// the caller.
func newBindingsEnvWith(t *testing.T, configure func(*relay.Options), grpcOpts ...grpc.ServerOption) *bindingsEnv {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := lis.Addr().String()
	env := newRelayEnvWith(t, func(o *relay.Options) {
		reg := o.Registry.(*agentcards.Registry)
		pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
		t.Cleanup(pool.Close)
		o.Clients = pool
		o.GRPCTarget = func() string { return target }
		o.Authorize = func(ctx context.Context, agent string) error {
			if name, _ := headerPrincipal(ctx); name == mallory {
				return fmt.Errorf("%s may not message %s", name, agent)
			}
			return nil
		}
		if configure != nil {
			configure(o)
		}
	}, nil)

	// The caller's identity, from the metadata, as the auth interceptors
	// put it into the context.
	withUser := func(ctx context.Context) context.Context {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get(grpcUserKey); len(v) > 0 {
			ctx = context.WithValue(ctx, testUserKey{}, v[0])
		}
		return ctx
	}
	opts := append(relay.TenantServerOptions(),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(withUser(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, userStream{ServerStream: ss, ctx: withUser(ss.Context())})
		}))
	gs := grpc.NewServer(append(opts, grpcOpts...)...)
	own := a2asrv.NewHandler(agentcardstest.Echo1{Name: "parley"})
	a2agrpcv1.NewHandler(env.relay.TenantHandler(own)).RegisterWith(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("gRPC server: %v", err)
		}
	})
	return &bindingsEnv{relayEnv: env, grpcTarget: target}
}

type userStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s userStream) Context() context.Context { return s.ctx }

// callerBinding is how a test client reaches the relay.
type callerBinding string

const (
	viaREST10 callerBinding = "REST 1.0"
	viaREST03 callerBinding = "REST 0.3"
	viaGRPC10 callerBinding = "gRPC 1.0"
)

// relayedCard is the card the relay serves for the agent, as a v2 client
// reads it (either version's fields).
func (e *bindingsEnv) relayedCard(t *testing.T, agent string) *a2a.AgentCard {
	t.Helper()
	resp, err := http.Get(e.url(agent) + agentcards.WellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("relayed card: %s %s %v", resp.Status, raw, err)
	}
	card, err := a2av0.NewAgentCardParser()(raw)
	if err != nil {
		t.Fatalf("relayed card %s: %v", raw, err)
	}
	return card
}

// client is a v2 client of the relayed agent over one binding only,
// built from the card the relay serves.
func (e *bindingsEnv) client(t *testing.T, agent string, via callerBinding) *a2aclient.Client {
	t.Helper()
	card := e.relayedCard(t, agent)
	opt := map[callerBinding]a2aclient.FactoryOption{
		viaREST10: a2aclient.WithRESTTransport(&http.Client{}),
		viaREST03: a2av0.WithRESTTransport(a2av0.RESTTransportConfig{Client: &http.Client{}}),
		viaGRPC10: a2agrpcv1.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}[via]
	c, err := a2aclient.NewFromCard(t.Context(), card, a2aclient.WithDefaultsDisabled(), opt)
	if err != nil {
		t.Fatalf("%s client of %s: %v", via, agent, err)
	}
	t.Cleanup(func() { c.Destroy() })
	return c
}

// checkErr checks that a call failed with the kind of error want, its
// text holding text. a2a-go v2.4.0's 0.3 REST client cannot tell errors
// apart (its server answers application/problem+json, which the client
// reads as a bare "server error"), so for it the call is made again over
// plain HTTP (method, path under /v1, as user) and the answer read.
func (e *bindingsEnv) checkErr(t *testing.T, via callerBinding, agent string, err, want error, method, path, user, text string) {
	t.Helper()
	if via != viaREST03 {
		if !errors.Is(err, want) || !strings.Contains(err.Error(), text) {
			t.Errorf("%s %s as %s = %v, want %v saying %q", method, path, user, err, want, text)
		}
		return
	}
	if err == nil {
		t.Errorf("%s %s as %s succeeded, want %v", method, path, user, want)
	}
	body := io.Reader(nil)
	if method == http.MethodPost {
		body = strings.NewReader(`{"message":{"messageId":"m1","role":"ROLE_USER","content":[{"text":"quick"}]}}`)
	}
	req, rerr := http.NewRequestWithContext(t.Context(), method, e.url(agent)+"/rest/v1"+path, body)
	if rerr != nil {
		t.Fatal(rerr)
	}
	req.Header.Set(userHeader, user)
	req.Header.Set("Content-Type", "application/json")
	resp, rerr := http.DefaultClient.Do(req)
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	status := map[error]int{a2a.ErrTaskNotFound: http.StatusNotFound, a2a.ErrUnauthorized: http.StatusForbidden, a2a.ErrTaskNotCancelable: http.StatusBadRequest}[want]
	if resp.StatusCode != status || !strings.Contains(string(raw), text) {
		t.Errorf("%s %s as %s over 0.3 REST: %s %s, want %d saying %q", method, path, user, resp.Status, raw, status, text)
	}
}

// as names the caller of the calls made with ctx.
func as(ctx context.Context, user string) context.Context {
	return a2aclient.AttachServiceParams(ctx, a2aclient.ServiceParams{grpcUserKey: {user}})
}

// ---------------------------------------------------------------- agents

// agentKind is a relayed agent: one on a2a-go v2 serving A2A 1.0 JSON-RPC
// only, or one on a2a-go v0.3 serving 0.3 JSON-RPC only.
type agentKind string

const (
	agentV2JSONRPC10 agentKind = "v2 agent, 1.0 JSON-RPC"
	agentLegacy03    agentKind = "v0.3 agent, 0.3 JSON-RPC"
)

// scriptAgent runs the same script on either kind of agent, by the
// message's text: "quick" completes at once; "steps" sends the task,
// three working updates and the completion, each after the test releases
// it; "hold" keeps the task working until it is canceled, adding a
// working update ("tick") for each poke.
type scriptAgent struct {
	name    string
	release chan struct{}
	poke    chan struct{}
	calls   func() int
	// legacy is the a2a-go v0.3 agent, whose requests the test reads.
	legacy *testAgent
	// subscribed, when set, gets a value when a subscription reaches the
	// agent (a2a-go v0.3 sends no first event to one: the test then pokes).
	subscribed chan struct{}
}

func startScriptAgent(t *testing.T, env *bindingsEnv, kind agentKind, name string) *scriptAgent {
	t.Helper()
	a := &scriptAgent{name: name, release: make(chan struct{}), poke: make(chan struct{})}
	switch kind {
	case agentV2JSONRPC10:
		p := agentcardstest.NewPeer1(t, name, script1{name: name, release: a.release, poke: a.poke}, agentcardstest.BindingJSONRPC)
		a.calls = func() int { return int(p.Calls(agentcardstest.BindingJSONRPC)) }
		if _, err := env.reg.Register(t.Context(), agentcards.Registration{URL: p.URL()}); err != nil {
			t.Fatal(err)
		}
	case agentLegacy03:
		hold := newHoldExecutor()
		hold.poke = a.poke
		ag := startAgent(t, name, &script03{name: name, release: a.release, hold: hold})
		a.legacy = ag
		a.subscribed = make(chan struct{}, 16)
		ag.onCall = func(method string) {
			if method == "tasks/resubscribe" {
				a.subscribed <- struct{}{}
			}
		}
		a.calls = func() int { return len(ag.requests()) }
		env.register(t, ag)
	}
	return a
}

// script1 is the script on a2a-go v2.
type script1 struct {
	name    string
	release chan struct{}
	poke    chan struct{}
}

func (s script1) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		text := ""
		for _, p := range ec.Message.Parts {
			text += p.Text()
		}
		if ec.StoredTask == nil && !yield(a2a.NewSubmittedTask(ec, ec.Message), nil) {
			return
		}
		switch text {
		case "steps":
			for i := 1; i <= 3; i++ {
				select {
				case <-s.release:
				case <-ctx.Done():
					return
				}
				msg := a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(fmt.Sprintf("step %d", i)))
				if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, msg), nil) {
					return
				}
			}
			select {
			case <-s.release:
			case <-ctx.Done():
				return
			}
			yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted, nil), nil)
		case "hold":
			if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, nil), nil) {
				return
			}
			for {
				select {
				case <-s.poke:
					msg := a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart("tick"))
					if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, msg), nil) {
						return
					}
				case <-ctx.Done():
					return
				}
			}
		default:
			msg := a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(s.name+" did: "+text))
			yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted, msg), nil)
		}
	}
}

func (s script1) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

// script03 is the script on a2a-go v0.3, from the relay tests' executors.
type script03 struct {
	name    string
	release chan struct{}
	hold    *holdExecutor
}

func (s *script03) Execute(ctx context.Context, reqCtx *legacysrv.RequestContext, q legacyq.Queue) error {
	switch textOf(reqCtx.Message) {
	case "steps":
		return (&stepExecutor{release: s.release}).Execute(ctx, reqCtx, q)
	case "hold":
		return s.hold.Execute(ctx, reqCtx, q)
	}
	return newCompleteExecutor(s.name).Execute(ctx, reqCtx, q)
}

func (s *script03) Cancel(ctx context.Context, reqCtx *legacysrv.RequestContext, q legacyq.Queue) error {
	return s.hold.Cancel(ctx, reqCtx, q)
}

// ---------------------------------------------------------------- tests

// summary is what the tests compare of an event: its kind, its task's
// state (in 0.3 spelling) and its message's text.
func summary(ev a2a.Event) string {
	text := func(m *a2a.Message) string {
		if m == nil {
			return ""
		}
		var b strings.Builder
		for _, p := range m.Parts {
			b.WriteString(p.Text())
		}
		return b.String()
	}
	state := func(s a2a.TaskState) string { return compatState(s) }
	switch e := ev.(type) {
	case *a2a.Task:
		return "task " + state(e.Status.State) + " " + text(e.Status.Message)
	case *a2a.TaskStatusUpdateEvent:
		return "status " + state(e.Status.State) + " " + text(e.Status.Message)
	case *a2a.TaskArtifactUpdateEvent:
		var b strings.Builder
		for _, p := range e.Artifact.Parts {
			b.WriteString(p.Text())
		}
		return "artifact " + b.String()
	case *a2a.Message:
		return "message " + text(e)
	}
	return fmt.Sprintf("%T", ev)
}

func compatState(s a2a.TaskState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(string(s), "TASK_STATE_")), "_", "-")
}

func userMessage(text string) *a2a.SendMessageRequest {
	return &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(text))}
}

// TestRelayBindings: a REST client (1.0 and 0.3) and a gRPC 1.0 client
// reach, through the relay, an agent on a2a-go v2 serving only A2A 1.0
// JSON-RPC and one on a2a-go v0.3 serving only 0.3 JSON-RPC: a blocking
// send, a streamed send passed on event by event, get and cancel; another
// caller's task is not found, and a caller who may not message the agent
// is refused without the agent being called.
func TestRelayBindings(t *testing.T) {
	env := newBindingsEnv(t)
	for _, kind := range []agentKind{agentV2JSONRPC10, agentLegacy03} {
		for _, via := range []callerBinding{viaREST10, viaREST03, viaGRPC10} {
			t.Run(string(kind)+" via "+string(via), func(t *testing.T) {
				name := strings.NewReplacer(" ", "-", ",", "", ".", "").Replace(string(kind) + "-" + string(via))
				agent := startScriptAgent(t, env, kind, name)
				client := env.client(t, name, via)
				ctx := t.Context()
				alice, bob := as(ctx, "alice"), as(ctx, "bob")

				// A blocking send: the agent gets the caller's trace
				// context, extensions and request ID, and nothing else of
				// the caller's.
				res, err := client.SendMessage(a2aclient.AttachServiceParams(alice, a2aclient.ServiceParams{
					"traceparent":    {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
					"a2a-extensions": {"https://example.com/ext/v1"},
					"x-request-id":   {"req-h6"},
					"authorization":  {"Bearer the-callers-token"},
				}), userMessage("quick"))
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
				if agent.legacy != nil {
					h := agent.legacy.last(t).header
					got := map[string]string{}
					for _, k := range []string{"Traceparent", compat.HeaderExtensions03, "X-Request-Id", "Authorization", userHeader} {
						got[k] = h.Get(k)
					}
					want := map[string]string{"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
						compat.HeaderExtensions03: "https://example.com/ext/v1", "X-Request-Id": "req-h6", "Authorization": "", userHeader: ""}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("the agent's headers (-want +got):\n%s", diff)
					}
				}
				rec := env.waitRelayed(t, name, string(task.ID), "completed")
				if rec.Caller != "alice" {
					t.Errorf("recorded caller %q, want alice", rec.Caller)
				}

				// Get, by its caller and by another.
				got, err := client.GetTask(alice, &a2a.GetTaskRequest{ID: task.ID})
				if err != nil || got.ID != task.ID || got.Status.State != a2a.TaskStateCompleted {
					t.Errorf("get = %v, %v", got, err)
				}
				calls := agent.calls()
				_, err = client.GetTask(bob, &a2a.GetTaskRequest{ID: task.ID})
				env.checkErr(t, via, name, err, a2a.ErrTaskNotFound, http.MethodGet, "/tasks/"+string(task.ID), "bob", "task not found")
				_, err = client.CancelTask(bob, &a2a.CancelTaskRequest{ID: task.ID})
				env.checkErr(t, via, name, err, a2a.ErrTaskNotFound, http.MethodPost, "/tasks/"+string(task.ID)+":cancel", "bob", "task not found")
				if n := agent.calls(); n != calls {
					t.Errorf("the agent got %d calls for bob's; want none", n-calls)
				}
				// The agent's own errors come through as what they are,
				// naming it.
				_, err = client.CancelTask(alice, &a2a.CancelTaskRequest{ID: task.ID})
				env.checkErr(t, via, name, err, a2a.ErrTaskNotCancelable, http.MethodPost, "/tasks/"+string(task.ID)+":cancel", "alice", name)
				_, err = client.GetTask(alice, &a2a.GetTaskRequest{ID: "no-such-task"})
				env.checkErr(t, via, name, err, a2a.ErrTaskNotFound, http.MethodGet, "/tasks/no-such-task", "alice", name)
				// An unknown task reads as another caller's does: else the
				// difference would tell bob that alice's task exists.
				_, unknown := client.GetTask(bob, &a2a.GetTaskRequest{ID: task.ID + "-unknown"})
				_, others := client.GetTask(bob, &a2a.GetTaskRequest{ID: task.ID})
				if unknown == nil || others == nil ||
					strings.ReplaceAll(unknown.Error(), string(task.ID)+"-unknown", "ID") != strings.ReplaceAll(others.Error(), string(task.ID), "ID") {
					t.Errorf("unknown task: %v; another caller's: %v; want the same answer", unknown, others)
				}

				// A streamed send: each event reaches the client before
				// the agent may send the next.
				var events []string
				stepped := 0
				for ev, err := range client.SendStreamingMessage(alice, userMessage("steps")) {
					if err != nil {
						t.Fatalf("stream after %q: %v", events, err)
					}
					events = append(events, summary(ev))
					if s, ok := ev.(*a2a.TaskStatusUpdateEvent); ok && s.Status.State == a2a.TaskStateCompleted {
						break
					}
					if _, ok := ev.(*a2a.TaskArtifactUpdateEvent); ok || stepped < 4 {
						select {
						case agent.release <- struct{}{}:
							stepped++
						case <-ctx.Done():
							t.Fatalf("the agent never asked for the next event after %q", events)
						}
					}
				}
				want := []string{"task submitted ", "status working step 1", "status working step 2", "status working step 3", "status completed "}
				if kind == agentLegacy03 {
					want = []string{"task submitted ", "status working step 1", "status working step 2", "status working step 3", "artifact the result", "status completed "}
				}
				if diff := cmp.Diff(want, events); diff != "" {
					t.Errorf("streamed events (-want +got):\n%s", diff)
				}

				// Cancel a task still working.
				res, err = client.SendMessage(alice, &a2a.SendMessageRequest{
					Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hold")),
					Config:  &a2a.SendMessageConfig{ReturnImmediately: true},
				})
				if err != nil {
					t.Fatalf("send hold: %v", err)
				}
				held, ok := res.(*a2a.Task)
				if !ok {
					t.Fatalf("send hold returned %T", res)
				}
				_, err = client.CancelTask(bob, &a2a.CancelTaskRequest{ID: held.ID})
				env.checkErr(t, via, name, err, a2a.ErrTaskNotFound, http.MethodPost, "/tasks/"+string(held.ID)+":cancel", "bob", "task not found")
				// bob may not follow it; alice follows it (poking the agent,
				// once her subscription reached it, until an update reaches
				// her: it is then in place), cancels it, and sees it
				// canceled.
				for _, err := range client.SubscribeToTask(bob, &a2a.SubscribeToTaskRequest{ID: held.ID}) {
					// A stream's error is an event of it, which every client
					// reads (0.3 REST's included).
					if !errors.Is(err, a2a.ErrTaskNotFound) {
						t.Errorf("bob's subscription = %v, want task not found", err)
					}
					break
				}
				// Buffered: the pokes sent before the subscription was in
				// place may add updates the test does not wait for, and an
				// unread one would hold the agent's stream (and its cancel).
				updates := make(chan string, 64)
				followed := make(chan error, 1)
				go func() {
					for ev, err := range client.SubscribeToTask(alice, &a2a.SubscribeToTaskRequest{ID: held.ID}) {
						if err != nil {
							followed <- err
							return
						}
						select {
						case updates <- summary(ev):
						case <-ctx.Done():
							followed <- ctx.Err()
							return
						}
					}
					followed <- nil
				}()
				if agent.subscribed != nil {
					select {
					case <-agent.subscribed:
					case err := <-followed:
						t.Fatalf("the subscription ended before reaching the agent: %v", err)
					}
				}
				// The first update is the signal; the ticker only spaces
				// the pokes out (each adds an update the agent must work
				// through before it can cancel), until then.
				pokes := time.NewTicker(5 * time.Millisecond)
				defer pokes.Stop()
			following:
				for {
					select {
					case <-updates:
						break following
					case <-pokes.C:
						select {
						case agent.poke <- struct{}{}:
						case <-updates:
							break following
						}
					case err := <-followed:
						t.Fatalf("the subscription ended before any event: %v", err)
					}
				}
				canceled, err := client.CancelTask(alice, &a2a.CancelTaskRequest{ID: held.ID})
				if err != nil || canceled.Status.State != a2a.TaskStateCanceled {
					t.Fatalf("cancel = %v, %v", canceled, err)
				}
				var last string
			ending:
				for {
					select {
					case last = <-updates:
					case err := <-followed:
						if err != nil {
							t.Errorf("the subscription: %v", err)
						}
						for len(updates) > 0 {
							last = <-updates
						}
						break ending
					}
				}
				if !strings.HasPrefix(last, "status canceled") {
					t.Errorf("the subscription's last event = %q, want the cancellation", last)
				}
				env.waitRelayed(t, name, string(held.ID), "canceled")

				// Someone who may not message the agent is refused, and the
				// agent is not called.
				calls = agent.calls()
				_, err = client.SendMessage(as(ctx, mallory), userMessage("quick"))
				env.checkErr(t, via, name, err, a2a.ErrUnauthorized, http.MethodPost, "/message:send", mallory, "not allowed")
				for range client.SendStreamingMessage(as(ctx, mallory), userMessage("quick")) {
				}
				if n := agent.calls(); n != calls {
					t.Errorf("the agent got %d calls for mallory's; want none", n-calls)
				}
			})
		}
	}
}

// TestRelayTenantRouting: on the gRPC port, a call without a tenant is the
// gateway's own; one naming an agent that is not registered says so.
func TestRelayTenantRouting(t *testing.T) {
	env := newBindingsEnv(t)
	card := &a2a.AgentCard{Name: "parley", SupportedInterfaces: []*a2a.AgentInterface{
		{URL: env.grpcTarget, ProtocolBinding: a2a.TransportProtocolGRPC, ProtocolVersion: a2a.Version},
	}}
	dial := a2agrpcv1.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials()))
	own, err := a2aclient.NewFromCard(t.Context(), card, a2aclient.WithDefaultsDisabled(), dial)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Destroy()
	res, err := own.SendMessage(t.Context(), userMessage("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("message parley echoes: hi", summary(res)); diff != "" {
		t.Errorf("own face (-want +got):\n%s", diff)
	}

	card.SupportedInterfaces[0].Tenant = "nobody"
	relayed, err := a2aclient.NewFromCard(t.Context(), card, a2aclient.WithDefaultsDisabled(), dial)
	if err != nil {
		t.Fatal(err)
	}
	defer relayed.Destroy()
	_, err = relayed.SendMessage(t.Context(), userMessage("hi"))
	if err == nil || !strings.Contains(err.Error(), `agent "nobody" is not registered with Parley`) {
		t.Errorf("send to an unregistered tenant = %v", err)
	}
}

// TestRelayCardListsEveryBinding: the relayed card lists JSON-RPC, REST
// (1.0 and 0.3) and the gRPC port with the agent's name as the tenant.
func TestRelayCardListsEveryBinding(t *testing.T) {
	env := newBindingsEnv(t)
	startScriptAgent(t, env, agentLegacy03, "billing")
	card := env.relayedCard(t, "billing")
	type iface struct{ URL, Binding, Version, Tenant string }
	var got []iface
	for _, i := range card.SupportedInterfaces {
		got = append(got, iface{i.URL, string(i.ProtocolBinding), string(i.ProtocolVersion), i.Tenant})
	}
	base := env.url("billing")
	want := []iface{
		{base, compat.BindingJSONRPC, "1.0", ""},
		{base, compat.BindingJSONRPC, "0.3", ""},
		{base + "/rest", compat.BindingHTTPJSON, "1.0", ""},
		{base + "/rest", compat.BindingHTTPJSON, "0.3", ""},
		{env.grpcTarget, compat.BindingGRPC, "1.0", "billing"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relayed card's interfaces (-want +got):\n%s", diff)
	}
}

// TestRelayGRPCAudit: a relayed gRPC call, described by its method alone
// as the gateway's gRPC audit interceptors describe the own face's calls,
// is recorded as a relayed call to the agent its tenant names (the
// forwarder notes it: audit.NoteTarget), with its task, and a refusal as
// denied with its reason; a call of the own face stays the own face's.
func TestRelayGRPCAudit(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	counter := &appendCounter{Audit: st, appended: make(chan struct{}, 1000)}
	log := audit.New(counter, audit.Options{Principal: func(ctx context.Context) audit.Principal {
		name, _ := headerPrincipal(ctx)
		return audit.Principal{Subject: name}
	}})
	describe := func(full string) (audit.Entry, string, bool) {
		method := strings.TrimPrefix(full, "/lf.a2a.v1.A2AService/")
		action := "a2a.call"
		if method == "SendMessage" || method == "SendStreamingMessage" {
			action = audit.ActionA2AMessage
		}
		return audit.Entry{Action: action, Target: "parley"}, method, true
	}
	env := newBindingsEnvWith(t, nil, auditgrpc.ServerOptions(log, describe)...)
	startScriptAgent(t, env, agentLegacy03, "billing")
	client := env.client(t, "billing", viaGRPC10)
	ctx := t.Context()
	last := func() auditRow {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		counter.wait(t, wctx, 1)
		recs, _, err := log.List(wctx, audit.Filter{Limit: 1000})
		if err != nil || len(recs) == 0 {
			t.Fatalf("audit records: %d, %v", len(recs), err)
		}
		return rowOf(t, recs[len(recs)-1])
	}

	res, err := client.SendMessage(as(ctx, "alice"), userMessage("quick"))
	if err != nil {
		t.Fatal(err)
	}
	task := res.(*a2a.Task)
	if diff := cmp.Diff(auditRow{"alice", audit.ActionA2ARelay, "billing", audit.OK, string(task.ID), "SendMessage", ""}, last()); diff != "" {
		t.Errorf("alice's send (-want +got):\n%s", diff)
	}
	if _, err := client.GetTask(as(ctx, "bob"), &a2a.GetTaskRequest{ID: task.ID}); !errors.Is(err, a2a.ErrTaskNotFound) {
		t.Errorf("bob's get = %v", err)
	}
	if diff := cmp.Diff(auditRow{"bob", audit.ActionA2ARelay, "billing", audit.Denied, string(task.ID), "GetTask", "the task belongs to another caller"}, last()); diff != "" {
		t.Errorf("bob's get (-want +got):\n%s", diff)
	}
	if _, err := client.SendMessage(as(ctx, mallory), userMessage("quick")); err == nil {
		t.Error("mallory's send succeeded")
	}
	if diff := cmp.Diff(auditRow{mallory, audit.ActionA2ARelay, "billing", audit.Denied, "", "SendMessage", "the caller may not message the agent"}, last()); diff != "" {
		t.Errorf("mallory's send (-want +got):\n%s", diff)
	}

	card := &a2a.AgentCard{Name: "parley", SupportedInterfaces: []*a2a.AgentInterface{
		{URL: env.grpcTarget, ProtocolBinding: a2a.TransportProtocolGRPC, ProtocolVersion: a2a.Version},
	}}
	own, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithDefaultsDisabled(),
		a2agrpcv1.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer own.Destroy()
	if _, err := own.SendMessage(as(ctx, "alice"), userMessage("hi")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(auditRow{"alice", audit.ActionA2AMessage, "parley", audit.OK, "", "SendMessage", ""}, last()); diff != "" {
		t.Errorf("the own face's send (-want +got):\n%s", diff)
	}
}

// TestRelayBindingsPushAndList: over REST and gRPC, a push-notification
// callback the guard refuses is refused and nothing reaches the agent;
// the calls on a task's push-notification configs reach the agent for
// the task's caller only; and a ListTasks answer keeps only the caller's
// tasks.
func TestRelayBindingsPushAndList(t *testing.T) {
	env := newBindingsEnvWith(t, func(o *relay.Options) {
		// The agents live on loopback (the registry allows it); the
		// callbacks get the default, strict policy.
		o.Guard = agentcards.NewGuard(agentcards.GuardOptions{Resolver: pushResolver})
	})
	for _, via := range []callerBinding{viaREST10, viaGRPC10} {
		t.Run(string(via), func(t *testing.T) {
			name := strings.NewReplacer(" ", "-", ".", "").Replace("list-" + string(via))
			agent := startScriptAgent(t, env, agentV2JSONRPC10, name)
			client := env.client(t, name, via)
			ctx := t.Context()
			alice, bob := as(ctx, "alice"), as(ctx, "bob")

			const meta = "http://169.254.169.254/latest/meta-data/"
			calls := agent.calls()
			_, err := client.CreateTaskPushConfig(alice, &a2a.PushConfig{TaskID: "t1", URL: meta})
			if !errors.Is(err, a2a.ErrInvalidParams) || !strings.Contains(err.Error(), "is not allowed") {
				t.Errorf("create a push config to %s = %v, want refused", meta, err)
			}
			send := userMessage("quick")
			send.Config = &a2a.SendMessageConfig{PushConfig: &a2a.PushConfig{URL: "http://internal.example/hook"}}
			if _, err := client.SendMessage(alice, send); !errors.Is(err, a2a.ErrInvalidParams) || !strings.Contains(err.Error(), "is not allowed") {
				t.Errorf("send with an internal callback = %v, want refused", err)
			}
			if n := agent.calls(); n != calls {
				t.Errorf("the agent got %d calls with refused callbacks; want none", n-calls)
			}

			// The push-notification config calls on a task reach the agent
			// for the task's caller, the agent's own answer coming back
			// naming it; another caller's are "task not found", and the
			// agent is not called.
			res, err := client.SendMessage(alice, userMessage("quick"))
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			task, ok := res.(*a2a.Task)
			if !ok {
				t.Fatalf("send returned %T, want a task", res)
			}
			env.waitRelayed(t, name, string(task.ID), "completed")

			tests := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"get", func(ctx context.Context) error {
					_, err := client.GetTaskPushConfig(ctx, &a2a.GetTaskPushConfigRequest{TaskID: task.ID, ID: "cfg"})
					return err
				}},
				{"list", func(ctx context.Context) error {
					_, err := client.ListTaskPushConfigs(ctx, &a2a.ListTaskPushConfigRequest{TaskID: task.ID})
					return err
				}},
				{"delete", func(ctx context.Context) error {
					return client.DeleteTaskPushConfig(ctx, &a2a.DeleteTaskPushConfigRequest{TaskID: task.ID, ID: "cfg"})
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := agent.calls()
					if err := tt.call(bob); !errors.Is(err, a2a.ErrTaskNotFound) {
						t.Errorf("bob's %s = %v, want task not found", tt.name, err)
					}
					if n := agent.calls(); n != before {
						t.Errorf("the agent got %d calls for bob's %s; want none", n-before, tt.name)
					}
					// The agent has no push notifications: its own answer.
					if err := tt.call(alice); !errors.Is(err, a2a.ErrPushNotificationNotSupported) || !strings.Contains(err.Error(), name) {
						t.Errorf("alice's %s = %v, want the agent's %v naming it", tt.name, err, a2a.ErrPushNotificationNotSupported)
					}
					if n := agent.calls(); n != before+1 {
						t.Errorf("the agent got %d calls for alice's %s; want 1", n-before, tt.name)
					}
				})
			}

			// The agent lists every task Parley started there.
			lister := startListingAgent(t, name+"-lister", []string{"t-alice", "t-bob", "t-elsewhere"})
			env.register(t, lister)
			for id, caller := range map[string]string{"t-alice": "alice", "t-bob": "bob"} {
				if err := env.st.SaveRelayedTask(ctx, store.RelayedTask{Agent: lister.name, TaskID: id, Caller: caller, State: "completed", UpdatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			list, err := env.client(t, lister.name, via).ListTasks(bob, &a2a.ListTasksRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, task := range list.Tasks {
				got = append(got, string(task.ID))
			}
			if diff := cmp.Diff([]string{"t-bob", "t-elsewhere"}, got); diff != "" || list.TotalSize != 2 {
				t.Errorf("bob's tasks (totalSize %d, want 2) (-want +got):\n%s", list.TotalSize, diff)
			}
		})
	}
}

// TestRelayRESTRefusals: the REST face refuses a body over the limit at
// once, saying so, and a call to an agent that is not registered names it.
func TestRelayRESTRefusals(t *testing.T) {
	env := newBindingsEnvWith(t, func(o *relay.Options) { o.MaxBodyBytes = 1024 })
	tests := []struct {
		name, agent, body string
		status            int
		says              string
	}{
		{"too large", "nobody", `{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"` + strings.Repeat("x", 2048) + `"}]}}`,
			http.StatusRequestEntityTooLarge, "larger than the 1024 bytes"},
		{"not registered", "nobody", `{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hi"}]}}`,
			http.StatusBadRequest, `agent \"nobody\" is not registered with Parley`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(env.url(tt.agent)+"/rest/message:send", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(raw), tt.says) {
				t.Errorf("%s %s, want %d saying %q", resp.Status, raw, tt.status, tt.says)
			}
		})
	}
}
