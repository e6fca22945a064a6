package relay_test

import (
	"context"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	a2av1 "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	a2asrvv1 "github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"

	"github.com/parleyhq/parley/agentcards/agentcardstest"
)

// Agents on a2a-go v2 (A2A 1.0, and 0.3 through its a2av0 handlers), for
// the relay tests that need an agent speaking 1.0. The agents on a2a-go
// v0.3 (startAgent) are the ones speaking only 0.3.

// path03 is where an agent speaking both versions serves A2A 0.3
// JSON-RPC; 1.0 is at its root.
const path03 = "/v03"

// startAgent1 starts an a2a-go v2 agent answering with exec: its A2A 1.0
// JSON-RPC handler at the root (which knows only 1.0's method names, so
// that a relay forwarding a 0.3 request untranslated gets "method not
// found"), and for speaksBoth a2av0's 0.3 JSON-RPC handler at path03 too,
// both over one request handler. Its card (A2A 1.0) lists the interfaces
// it serves. opts configure its request handler.
func startAgent1(t *testing.T, name string, exec a2asrvv1.AgentExecutor, v agentVersion, opts ...a2asrvv1.RequestHandlerOption) *testAgent {
	t.Helper()
	if v != speaks10 && v != speaksBoth {
		t.Fatalf("startAgent1(%q): version %q; an agent speaking only 0.3 is startAgent's", name, v)
	}
	a := &testAgent{name: name}
	handler := a2asrvv1.NewHandler(exec, opts...)
	mux := http.NewServeMux()
	mux.Handle("/", a.spy(a2asrvv1.NewJSONRPCHandler(handler)))
	if v == speaksBoth {
		mux.Handle(path03, a.spy(a2av0.NewJSONRPCHandler(handler)))
	}
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)

	card := agentcardstest.Card1(name, agentcardstest.Skill1("work", "Work", "test"))
	card.SupportedInterfaces = []*a2av1.AgentInterface{a2av1.NewAgentInterface(a.srv.URL+"/", a2av1.TransportProtocolJSONRPC)}
	if v == speaksBoth {
		i03 := a2av1.NewAgentInterface(a.srv.URL+path03, a2av1.TransportProtocolJSONRPC)
		i03.ProtocolVersion = "0.3"
		card.SupportedInterfaces = append(card.SupportedInterfaces, i03)
	}
	mux.Handle(a2asrvv1.WellKnownAgentCardPath, a2asrvv1.NewStaticAgentCardHandler(card))
	return a
}

// completeExecutor1 is completeExecutor on a2a-go v2: it completes each
// task at once, saying what it got, and reports the message metadata it
// saw.
type completeExecutor1 struct {
	name     string
	metadata chan map[string]any
}

func newCompleteExecutor1(name string) *completeExecutor1 {
	return &completeExecutor1{name: name, metadata: make(chan map[string]any, 64)}
}

func (e *completeExecutor1) Execute(_ context.Context, ec *a2asrvv1.ExecutorContext) iter.Seq2[a2av1.Event, error] {
	return func(yield func(a2av1.Event, error) bool) {
		var text []string
		if ec.Message != nil {
			select {
			case e.metadata <- ec.Message.Metadata:
			default:
			}
			for _, p := range ec.Message.Parts {
				if s := p.Text(); s != "" {
					text = append(text, s)
				}
			}
		}
		if ec.StoredTask == nil && !yield(a2av1.NewSubmittedTask(ec, ec.Message), nil) {
			return
		}
		msg := a2av1.NewMessageForTask(a2av1.MessageRoleAgent, ec, a2av1.NewTextPart(e.name+" did: "+strings.Join(text, " ")))
		yield(a2av1.NewStatusUpdateEvent(ec, a2av1.TaskStateCompleted, msg), nil)
	}
}

func (e *completeExecutor1) Cancel(context.Context, *a2asrvv1.ExecutorContext) iter.Seq2[a2av1.Event, error] {
	return func(yield func(a2av1.Event, error) bool) { yield(nil, a2av1.ErrTaskNotCancelable) }
}

// startListingAgent is an a2a-go v2 agent speaking A2A 1.0 only whose task
// store holds the given tasks, completed, all Parley's (the agent knows
// one caller: Parley, calling with its own credentials), so that its own
// ListTasks lists them all, in the order given (it lists the last updated
// first: each task is made a minute before the one before it, on a clock
// of the test's own).
func startListingAgent(t *testing.T, name string, listed []string) *testAgent {
	t.Helper()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tasks := taskstore.NewInMemory(&taskstore.InMemoryStoreConfig{
		Authenticator: func(context.Context) (string, error) { return "parley", nil },
		TimeProvider:  func() time.Time { return at },
	})
	for _, id := range listed {
		at = at.Add(-time.Minute)
		task := &a2av1.Task{ID: a2av1.TaskID(id), ContextID: "ctx-" + id, Status: a2av1.TaskStatus{State: a2av1.TaskStateCompleted}}
		if _, err := tasks.Create(t.Context(), task); err != nil {
			t.Fatal(err)
		}
	}
	return startAgent1(t, name, newCompleteExecutor1(name), speaks10, a2asrvv1.WithTaskStore(tasks))
}
