package negotiation_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	legacy "github.com/a2aproject/a2a-go/a2a"
	legacysrv "github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/examples/agents"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store/sqlite"
)

// seen is what an agent received: the extension headers of each request
// and the turn messages.
type seen struct {
	mu         sync.Mutex
	journal    strings.Builder     // an example agent's journal
	headers    map[string][]string // header name → values, over every request
	messageIDs []string
	contextIDs []string
	extensions [][]string
}

func (s *seen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journal.Write(p)
}

func (s *seen) header(name string, vals []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headers == nil {
		s.headers = map[string][]string{}
	}
	s.headers[name] = append(s.headers[name], vals...)
}

// startExample serves an example agent (a2a-go v2, A2A 1.0 preferred)
// behind a handler that records the extension headers it gets.
func startExample(t *testing.T, role agents.Role, s *seen) string {
	t.Helper()
	a, err := agents.New(role, agents.Options{Logger: slog.New(slog.DiscardHandler), Journal: s})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			s.header("A2A-Extensions", r.Header.Values("A2A-Extensions"))
			s.header("X-A2A-Extensions", r.Header.Values("X-A2A-Extensions"))
		}
		h.ServeHTTP(w, r)
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	h = a.Handler(srv.URL + "/")
	return srv.URL
}

// legacyParticipant is an A2A 0.3-only agent (the legacy a2a-go module)
// that proposes 500 on every turn and records what it got.
type legacyParticipant struct{ s *seen }

func (p legacyParticipant) Execute(ctx context.Context, rc *legacysrv.RequestContext, q eventqueue.Queue) error {
	if cc, ok := legacysrv.CallContextFrom(ctx); ok {
		for _, name := range []string{"A2A-Extensions", "X-A2A-Extensions"} {
			vals, _ := cc.RequestMeta().Get(name)
			p.s.header(name, vals)
		}
	}
	p.s.mu.Lock()
	p.s.messageIDs = append(p.s.messageIDs, rc.Message.ID)
	p.s.contextIDs = append(p.s.contextIDs, rc.Message.ContextID)
	p.s.extensions = append(p.s.extensions, rc.Message.Extensions)
	p.s.mu.Unlock()
	reply := legacy.NewMessage(legacy.MessageRoleAgent, legacy.TextPart{Text: "propose 500"},
		legacy.DataPart{Data: map[string]any{"type": negotiation.MoveType, "move": "propose", "terms": map[string]any{"amount": 500}}})
	reply.ContextID = rc.ContextID
	return q.Write(ctx, reply)
}

func (legacyParticipant) Cancel(context.Context, *legacysrv.RequestContext, eventqueue.Queue) error {
	return nil
}

// TestA2ASenderRoundTrip: a turn goes out as NEGOTIATION.md says (one
// blocking send, the extension URI in A2A-Extensions to an A2A 1.0 agent
// and in X-A2A-Extensions to a 0.3 one, messageId and contextId as given)
// and the move comes back, from the example agents (a2a-go v2) and from a
// 0.3-only agent (legacy a2a-go), through the agent pool.
func TestA2ASenderRoundTrip(t *testing.T) {
	snapshot := json.RawMessage(`{"id":"T-42","customer":"acme","refund_amount":500}`)
	turn := func(round int, you string, standing *negotiation.Standing, history ...negotiation.MoveRecord) negotiation.Turn {
		allowed := []string{negotiation.MoveCounter, negotiation.MoveAccept, negotiation.MoveReject}
		if standing == nil {
			allowed = []string{negotiation.MovePropose, negotiation.MoveReject}
		}
		if history == nil {
			history = []negotiation.MoveRecord{}
		}
		return negotiation.Turn{Type: negotiation.TurnType, NegotiationID: "neg-rt", Round: round, MaxRounds: 6,
			Deadline: time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC), You: you, Participants: []string{"billing", "escalation"},
			Question: "Approve an exception refund of 500.00 for ticket T-42?",
			Subject:  negotiation.Subject{Kind: "ticket", ID: "T-42", Snapshot: snapshot},
			Standing: standing, History: history, AllowedMoves: allowed}
	}
	proposed := negotiation.MoveRecord{Round: 1, By: "billing", Move: "propose", Terms: json.RawMessage(`{"amount":500}`)}
	tests := []struct {
		name       string
		start      func(t *testing.T, s *seen) string // the agent's URL
		agent      string
		turn       negotiation.Turn
		wantMove   string
		wantTerms  string
		wantHeader string // the header the URI must come in; the other must be absent
	}{
		{"1.0 billing opens", func(t *testing.T, s *seen) string { return startExample(t, agents.RoleBilling, s) },
			"billing", turn(1, "billing", nil), "propose", `{"amount":500}`, "A2A-Extensions"},
		{"1.0 escalation counters", func(t *testing.T, s *seen) string { return startExample(t, agents.RoleEscalation, s) },
			"escalation", turn(2, "escalation", &negotiation.Standing{By: "billing", Terms: json.RawMessage(`{"amount":500}`)}, proposed),
			"counter", `{"amount":350}`, "A2A-Extensions"},
		{"0.3-only agent", func(t *testing.T, s *seen) string {
			return agentcardstest.NewPeerWith(t, "billing", legacyParticipant{s}, agentcardstest.Skill("refunds", "Refunds")).URL()
		}, "billing", turn(1, "billing", nil), "propose", `{"amount":500}`, "X-A2A-Extensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			reg := agentcards.New(st, agentcards.Options{AllowPrivate: true, HealthInterval: -1})
			s := &seen{}
			if _, err := reg.Register(ctx, agentcards.Registration{URL: tt.start(t, s)}); err != nil {
				t.Fatal(err)
			}
			pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
			t.Cleanup(pool.Close)
			sender := negotiation.NewA2ASender(pool)

			id := "neg-rt/r" + string(rune('0'+tt.turn.Round)) + "/" + tt.agent
			rep, err := sender.Send(ctx, tt.agent, negotiation.Outgoing{MessageID: id, ContextID: "neg-rt", Text: "your move", Turn: tt.turn})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Problem != "" || rep.Forfeit {
				t.Fatalf("reply %+v", rep)
			}
			var move negotiation.Move
			if err := json.Unmarshal(rep.Data, &move); err != nil {
				t.Fatalf("move %s: %v", rep.Data, err)
			}
			var gotTerms, wantTerms any
			_ = json.Unmarshal(move.Terms, &gotTerms)
			_ = json.Unmarshal([]byte(tt.wantTerms), &wantTerms)
			if move.Type != negotiation.MoveType || move.Move != tt.wantMove || !cmp.Equal(gotTerms, wantTerms) {
				t.Errorf("move %s, want %s %s", rep.Data, tt.wantMove, tt.wantTerms)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			other := map[string]string{"A2A-Extensions": "X-A2A-Extensions", "X-A2A-Extensions": "A2A-Extensions"}[tt.wantHeader]
			got := map[string]string{tt.wantHeader: strings.Join(s.headers[tt.wantHeader], ","), other: strings.Join(s.headers[other], ",")}
			want := map[string]string{tt.wantHeader: negotiation.ExtensionURI, other: ""}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("extension headers (-want +got):\n%s", diff)
			}
			if tt.wantHeader == "A2A-Extensions" {
				var e agents.JournalEntry
				if err := json.Unmarshal([]byte(s.journal.String()), &e); err != nil {
					t.Fatalf("journal %q: %v", s.journal.String(), err)
				}
				if e.MessageID != id || e.NegotiationID != "neg-rt" || e.Round != tt.turn.Round {
					t.Errorf("the agent decided %+v, want message %s of neg-rt, round %d", e, id, tt.turn.Round)
				}
			} else {
				if diff := cmp.Diff([]string{id}, s.messageIDs); diff != "" {
					t.Errorf("messageIds (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string{"neg-rt"}, s.contextIDs); diff != "" {
					t.Errorf("contextIds (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([][]string{{negotiation.ExtensionURI}}, s.extensions); diff != "" {
					t.Errorf("message.extensions (-want +got):\n%s", diff)
				}
			}
		})
	}
}
