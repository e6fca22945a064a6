package negotiation_test

import (
	"context"
	"errors"
	"iter"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store/sqlite"
)

// executorFunc is an a2a-go v2 agent made of a function.
type executorFunc func(ec *a2asrv.ExecutorContext) []a2a.Event

func (f executorFunc) Execute(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		for _, ev := range f(ec) {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func (executorFunc) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

type failingExecutor struct{ err error }

func (f failingExecutor) Execute(context.Context, *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) { yield(nil, f.err) }
}

func (f failingExecutor) Cancel(context.Context, *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) { yield(nil, f.err) }
}

var moveValue = map[string]any{"type": negotiation.MoveType, "move": "propose", "terms": map[string]any{"amount": 500}}

// TestA2ASenderReplies: how an A2A 1.0 agent's answers, on each binding,
// become replies: a task that completes with the move in an artifact, a
// task that fails (forfeit), one that stops at input-required (invalid),
// an A2A error answer (invalid), and an agent that cannot be reached (a
// transport error, to retry).
func TestA2ASenderReplies(t *testing.T) {
	tests := []struct {
		name        string
		exec        a2asrv.AgentExecutor
		stop        bool
		wantData    bool
		wantForfeit bool
		wantProblem string // in Problem; "" for none
		wantErr     error
	}{
		{"a task completed with the move in an artifact", executorFunc(func(ec *a2asrv.ExecutorContext) []a2a.Event {
			return []a2a.Event{a2a.NewSubmittedTask(ec, ec.Message), a2a.NewArtifactEvent(ec, a2a.NewDataPart(moveValue)),
				a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted, nil)}
		}), false, true, false, "", nil},
		{"a task that fails", executorFunc(func(ec *a2asrv.ExecutorContext) []a2a.Event {
			return []a2a.Event{a2a.NewSubmittedTask(ec, ec.Message), a2a.NewStatusUpdateEvent(ec, a2a.TaskStateFailed, nil)}
		}), false, false, true, "the task ended failed", nil},
		{"a task that asks for input", executorFunc(func(ec *a2asrv.ExecutorContext) []a2a.Event {
			return []a2a.Event{a2a.NewSubmittedTask(ec, ec.Message), a2a.NewStatusUpdateEvent(ec, a2a.TaskStateInputRequired, nil)}
		}), false, false, false, "the task stopped at input-required", nil},
		{"an A2A error answer", failingExecutor{a2a.ErrInvalidParams}, false, false, false, "the agent answered with an error", nil},
		{"an agent that is gone", nil, true, false, false, "", negotiation.ErrTransport},
	}
	for _, binding := range []string{agentcardstest.BindingJSONRPC, agentcardstest.BindingREST, agentcardstest.BindingGRPC} {
		for _, tt := range tests {
			t.Run(binding+"/"+tt.name, func(t *testing.T) {
				ctx := t.Context()
				st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				reg := agentcards.New(st, agentcards.Options{AllowPrivate: true, HealthInterval: -1})
				peer := agentcardstest.NewPeer1(t, "billing", tt.exec, binding)
				if _, err := reg.Register(ctx, agentcards.Registration{URL: peer.URL()}); err != nil {
					t.Fatal(err)
				}
				pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
				t.Cleanup(pool.Close)
				if tt.stop {
					peer.Stop()
				}
				rep, err := negotiation.NewA2ASender(pool).Send(ctx, "billing", negotiation.Outgoing{
					MessageID: "neg-x/r1/billing", ContextID: "neg-x", Text: "your move",
					Turn: negotiation.Turn{Type: negotiation.TurnType, NegotiationID: "neg-x", Round: 1, You: "billing"}})
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Send = %+v, %v; want %v", rep, err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if (rep.Data != nil) != tt.wantData || rep.Forfeit != tt.wantForfeit ||
					(tt.wantProblem == "") != (rep.Problem == "") || !strings.Contains(rep.Problem, tt.wantProblem) {
					t.Errorf("reply %+v (data %s), want data %v, forfeit %v, problem %q", rep, rep.Data, tt.wantData, tt.wantForfeit, tt.wantProblem)
				}
			})
		}
	}
}
