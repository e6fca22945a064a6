package negotiation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// script answers turns for each agent: the turn (with its message ID) in,
// the reply or a transport error out.
type script map[string]func(out negotiation.Outgoing) (negotiation.Reply, error)

// scriptSender is a Sender that plays scripts and records every message ID
// it was sent.
type scriptSender struct {
	mu   sync.Mutex
	play script
	sent []string
}

func (s *scriptSender) Send(ctx context.Context, agent string, out negotiation.Outgoing) (negotiation.Reply, error) {
	s.mu.Lock()
	s.sent = append(s.sent, out.MessageID)
	f := s.play[agent]
	s.mu.Unlock()
	if f == nil {
		return negotiation.Reply{}, fmt.Errorf("%w: connection refused", negotiation.ErrTransport)
	}
	return f(out)
}

func (s *scriptSender) messageIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

func move(m string, amount float64, rationale string) negotiation.Reply {
	d := map[string]any{"type": negotiation.MoveType, "move": m, "rationale": rationale}
	if amount > 0 {
		d["terms"] = map[string]any{"amount": amount}
	}
	data, _ := json.Marshal(d)
	return negotiation.Reply{Data: data}
}

// biller proposes ask, then accepts a counter >= floor, else counters at
// the midpoint.
func biller(ask, floor float64) func(negotiation.Outgoing) (negotiation.Reply, error) {
	return func(out negotiation.Outgoing) (negotiation.Reply, error) {
		t := out.Turn
		if t.Standing == nil {
			return move(negotiation.MovePropose, ask, "loyal customer"), nil
		}
		amt := amountOf(t.Standing.Terms)
		if amt >= floor {
			return move(negotiation.MoveAccept, 0, "fair"), nil
		}
		last := ask
		for _, h := range t.History {
			if h.By == t.You {
				last = amountOf(h.Terms)
			}
		}
		return move(negotiation.MoveCounter, (last+amt)/2, "meet halfway"), nil
	}
}

// approver accepts standing <= limit, rejects above cap, else counters at
// limit (or, with step, at the last counter plus step).
func approver(limit, hardCap float64) func(negotiation.Outgoing) (negotiation.Reply, error) {
	return func(out negotiation.Outgoing) (negotiation.Reply, error) {
		t := out.Turn
		if t.Standing == nil {
			return move(negotiation.MovePropose, limit, "policy limit"), nil
		}
		amt := amountOf(t.Standing.Terms)
		switch {
		case amt > hardCap:
			return move(negotiation.MoveReject, 0, "above the hard cap"), nil
		case amt <= limit:
			return move(negotiation.MoveAccept, 0, "within limit"), nil
		}
		return move(negotiation.MoveCounter, limit, "policy cap for this tier"), nil
	}
}

func amountOf(terms json.RawMessage) float64 {
	var t struct{ Amount float64 }
	_ = json.Unmarshal(terms, &t)
	return t.Amount
}

type env struct {
	st   *sqlite.Store
	ws   *workspace.Workspace
	send *scriptSender
	svc  *negotiation.Service
}

func newEnv(t *testing.T, play script, opts negotiation.Options) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, ws: workspace.New(st, workspace.Options{}), send: &scriptSender{play: play}}
	if opts.Sleep == nil {
		opts.Sleep = func(context.Context, time.Duration) error { return nil }
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	e.svc = negotiation.New(st, e.ws, e.send, opts)
	return e
}

// runUntil runs the service until the negotiation is done or pending a
// person, and returns its view. It looks again on each change of the
// negotiation on the feed, not on a timer; the timeout only ends a test
// that hangs.
func (e *env) runUntil(t *testing.T, id string, states ...string) negotiation.View {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Subscribed before the first look: a change between the look and the
	// wait is not missed.
	changes, err := e.st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if len(states) == 0 {
		states = []string{store.NegotiationDone, store.NegotiationPendingHuman}
	}
	for {
		n, err := e.st.GetNegotiation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(states, n.State) {
			v, err := e.svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		for changed := false; !changed; {
			select {
			case <-ctx.Done():
				v, _ := e.svc.Get(context.Background(), id)
				t.Fatalf("negotiation %s did not end: state %s, %+v", id, n.State, v.Transcript)
			case c := <-changes:
				changed = c.Kind == store.KindNegotiation && c.Key == id
			}
		}
	}
}

func (e *env) ticket(t *testing.T, status workspace.Status, refund float64) workspace.Ticket {
	t.Helper()
	cust, cat := "Dana", "billing"
	tk, _, err := e.ws.SaveTicket(t.Context(), "test", workspace.TicketInput{Customer: &cust, Category: &cat, RefundAmount: &refund})
	if err != nil {
		t.Fatal(err)
	}
	if status != workspace.StatusNew {
		if tk, _, err = e.ws.SaveTicket(t.Context(), "test", workspace.TicketInput{ID: tk.ID, Status: &status}); err != nil {
			t.Fatal(err)
		}
	}
	return tk
}

func TestEngineOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		play         script
		participants []string
		maxRounds    int
		deadline     time.Duration
		fallback     string
		wantStatus   string
		wantDecision string
		wantAmount   float64
		wantRounds   int
		wantReason   string
		wantBy       string
	}{
		{name: "agreement on a counter",
			play:       script{"billing": biller(500, 300), "escalation": approver(350, 2000)},
			wantStatus: negotiation.StatusAgreed, wantDecision: negotiation.DecisionApproved, wantAmount: 350, wantRounds: 3,
			wantReason: "billing accepted escalation's counter", wantBy: "agents"},
		{name: "agreement at once",
			play:       script{"billing": biller(150, 100), "escalation": approver(350, 2000)},
			wantStatus: negotiation.StatusAgreed, wantDecision: negotiation.DecisionApproved, wantAmount: 150, wantRounds: 2,
			wantReason: "escalation accepted billing's proposal", wantBy: "agents"},
		{name: "rejection above the cap",
			play:       script{"billing": biller(5000, 300), "escalation": approver(350, 2000)},
			wantStatus: negotiation.StatusRejected, wantDecision: negotiation.DecisionDenied, wantRounds: 2,
			wantReason: "escalation rejected: above the hard cap", wantBy: "agents"},
		{name: "rounds exhausted, fallback deny",
			play:      script{"billing": biller(500, 400), "escalation": approver(200, 2000)},
			maxRounds: 4, fallback: config.FallbackDeny,
			wantStatus: negotiation.StatusNoAgreement, wantDecision: negotiation.DecisionDenied, wantRounds: 4,
			wantReason: "no agreement after 4 rounds; the fallback denies", wantBy: "fallback"},
		{name: "rounds exhausted, fallback approve takes the standing terms",
			play:      script{"billing": biller(500, 400), "escalation": approver(200, 2000)},
			maxRounds: 3, fallback: config.FallbackApprove,
			wantStatus: negotiation.StatusNoAgreement, wantDecision: negotiation.DecisionApproved, wantAmount: 350, wantRounds: 3,
			wantReason: "no agreement after 3 rounds; the fallback approves the last standing terms", wantBy: "fallback"},
		{name: "rounds exhausted, ask a person",
			play:      script{"billing": biller(500, 400), "escalation": approver(200, 2000)},
			maxRounds: 2, fallback: config.FallbackAskHuman,
			wantStatus: negotiation.StatusNoAgreement, wantDecision: negotiation.DecisionPending, wantRounds: 2,
			wantReason: "no agreement after 2 rounds; a person must decide (decide_negotiation)"},
		{name: "unreachable agent after retries",
			play:       script{"billing": biller(500, 300)},
			wantStatus: negotiation.StatusFailed, wantDecision: negotiation.DecisionDenied, wantRounds: 1,
			wantReason: "escalation was unreachable in round 2 after 3 attempts", wantBy: "agents"},
		{name: "invalid move, corrected",
			play: script{"billing": biller(500, 300), "escalation": func(out negotiation.Outgoing) (negotiation.Reply, error) {
				if !strings.HasSuffix(out.MessageID, "/c1") {
					return move("haggle", 10, ""), nil
				}
				return approver(350, 2000)(out)
			}},
			wantStatus: negotiation.StatusAgreed, wantDecision: negotiation.DecisionApproved, wantAmount: 350, wantRounds: 3, wantBy: "agents"},
		{name: "invalid move twice forfeits",
			play: script{"billing": biller(500, 300), "escalation": func(negotiation.Outgoing) (negotiation.Reply, error) {
				return move(negotiation.MoveCounter, 0, "no terms"), nil
			}},
			wantStatus: negotiation.StatusFailed, wantDecision: negotiation.DecisionDenied, wantRounds: 1,
			wantReason: "escalation forfeited in round 2: counter needs terms", wantBy: "agents"},
		{name: "accept with other terms is invalid, then forfeits",
			play: script{"billing": biller(500, 300), "escalation": func(negotiation.Outgoing) (negotiation.Reply, error) {
				return move(negotiation.MoveAccept, 400, ""), nil
			}},
			wantStatus: negotiation.StatusFailed, wantDecision: negotiation.DecisionDenied, wantRounds: 1,
			wantReason: "escalation forfeited in round 2: accept's terms", wantBy: "agents"},
		{name: "a failed task forfeits at once",
			play: script{"billing": biller(500, 300), "escalation": func(negotiation.Outgoing) (negotiation.Reply, error) {
				return negotiation.Reply{Forfeit: true, Problem: "the task ended failed"}, nil
			}},
			wantStatus: negotiation.StatusFailed, wantDecision: negotiation.DecisionDenied, wantRounds: 1,
			wantReason: "escalation forfeited in round 2: the task ended failed", wantBy: "agents"},
		{name: "three participants, the third accepts",
			participants: []string{"billing", "escalation", "finance"},
			play: script{"billing": biller(500, 300), "escalation": approver(350, 2000),
				"finance": func(out negotiation.Outgoing) (negotiation.Reply, error) {
					if out.Turn.Standing != nil && out.Turn.Standing.By == "escalation" && len(out.Turn.Participants) == 3 {
						return move(negotiation.MoveAccept, 0, "fine by finance"), nil
					}
					return move(negotiation.MoveCounter, 100, "too much"), nil
				}},
			wantStatus: negotiation.StatusAgreed, wantDecision: negotiation.DecisionApproved, wantAmount: 350, wantRounds: 3,
			wantReason: "finance accepted escalation's counter", wantBy: "agents"},
		{name: "deadline",
			// Escalation thinks for 300ms of the bubble's clock, past the
			// 200ms deadline, which falls while it thinks.
			play: script{"billing": biller(500, 400), "escalation": func(out negotiation.Outgoing) (negotiation.Reply, error) {
				time.Sleep(300 * time.Millisecond)
				return approver(200, 2000)(out)
			}},
			deadline:   200 * time.Millisecond,
			wantStatus: negotiation.StatusNoAgreement, wantDecision: negotiation.DecisionDenied, wantRounds: 1,
			wantReason: "deadline", wantBy: "fallback"},
	}
	for _, tc := range tests {
		// In a bubble: the deadline, the turn timeouts and the agents'
		// thinking run on its clock, so a busy machine changes nothing.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tc.play, negotiation.Options{})
				tk := e.ticket(t, workspace.StatusEscalated, 500)
				parts := tc.participants
				if parts == nil {
					parts = []string{"billing", "escalation"}
				}
				started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: parts,
					Question: "Approve a refund of 500.00?", Terms: json.RawMessage(`{"amount": 500}`),
					MaxRounds: tc.maxRounds, Deadline: tc.deadline, Fallback: tc.fallback, StartedBy: "test"})
				if err != nil {
					t.Fatal(err)
				}
				v := e.runUntil(t, started.ID)
				o := v.Outcome
				if o == nil {
					t.Fatalf("no outcome: %+v", v)
				}
				if o.Status != tc.wantStatus || o.Decision != tc.wantDecision || o.Rounds != tc.wantRounds || o.DecidedBy != tc.wantBy {
					t.Errorf("outcome = %s/%s rounds %d by %q (%s), want %s/%s rounds %d by %q",
						o.Status, o.Decision, o.Rounds, o.DecidedBy, o.Reason, tc.wantStatus, tc.wantDecision, tc.wantRounds, tc.wantBy)
				}
				if got := amountOf(o.Terms); got != tc.wantAmount {
					t.Errorf("terms %s, want amount %v", o.Terms, tc.wantAmount)
				}
				if !strings.Contains(o.Reason, tc.wantReason) {
					t.Errorf("reason %q, want it to contain %q", o.Reason, tc.wantReason)
				}
				if (o.DecidedAt == nil) != (tc.wantDecision == negotiation.DecisionPending) {
					t.Errorf("decided_at = %v with decision %s", o.DecidedAt, o.Decision)
				}
				// Written back into the ticket, status restored unless a person
				// must decide.
				got, err := e.ws.GetTicket(t.Context(), tk.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Approval == nil || got.Approval.NegotiationID != started.ID || got.Approval.Decision != o.Decision || got.Approval.Status != o.Status {
					t.Errorf("ticket approval = %+v, want the outcome %+v", got.Approval, o)
				}
				wantTicket := workspace.StatusEscalated
				if o.Decision == negotiation.DecisionPending {
					wantTicket = workspace.StatusNegotiating
				}
				if got.Status != wantTicket {
					t.Errorf("ticket status %s, want %s", got.Status, wantTicket)
				}
				// Every round once, in order, by the participant whose turn it was.
				for i, h := range v.History {
					if h.Round != i+1 || h.By != parts[i%len(parts)] {
						t.Errorf("history[%d] = round %d by %s", i, h.Round, h.By)
					}
				}
			})
		})
	}
}

func TestTurnWireFormat(t *testing.T) {
	var first negotiation.Outgoing
	var mu sync.Mutex
	play := script{"billing": func(out negotiation.Outgoing) (negotiation.Reply, error) {
		mu.Lock()
		if first.MessageID == "" {
			first = out
		}
		mu.Unlock()
		return biller(500, 300)(out)
	}, "escalation": approver(350, 2000)}
	e := newEnv(t, play, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusTriaged, 500)
	started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
		Question: "Approve?", StartedBy: "test", Metadata: map[string]any{"parley": map[string]any{"on_behalf_of": map[string]any{"sub": "alice"}}}})
	if err != nil {
		t.Fatal(err)
	}
	v := e.runUntil(t, started.ID)
	if first.MessageID != started.ID+"/r1/billing" || first.ContextID != started.ID {
		t.Errorf("message id %q context %q", first.MessageID, first.ContextID)
	}
	raw, _ := json.Marshal(first.Turn)
	var turn map[string]any
	_ = json.Unmarshal(raw, &turn)
	for _, k := range []string{"type", "negotiation_id", "round", "max_rounds", "deadline", "you", "participants", "question", "subject", "standing", "history", "allowed_moves"} {
		if _, ok := turn[k]; !ok {
			t.Errorf("turn lacks %q: %s", k, raw)
		}
	}
	if turn["standing"] != nil || fmt.Sprint(turn["allowed_moves"]) != "[propose reject]" || turn["type"] != negotiation.TurnType {
		t.Errorf("first turn: %s", raw)
	}
	if first.Metadata == nil || !strings.Contains(first.Text, "round 1 of 6") {
		t.Errorf("metadata %v, text %q", first.Metadata, first.Text)
	}
	ids := e.send.messageIDs()
	want := []string{started.ID + "/r1/billing", started.ID + "/r2/escalation", started.ID + "/r3/billing"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("sent %v, want %v", ids, want)
	}
	// Before the opener's move the ticket was negotiating; after, triaged again.
	if v.Outcome.Status != negotiation.StatusAgreed {
		t.Fatalf("outcome %+v", v.Outcome)
	}
	h, err := e.ws.History(t.Context(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, x := range h {
		actions = append(actions, x.Action)
	}
	if got := strings.Join(actions, ","); got != "create,save,negotiate,approval" {
		t.Errorf("ticket history %s", got)
	}
}

func TestDecidePendingHuman(t *testing.T) {
	e := newEnv(t, script{"billing": biller(500, 400), "escalation": approver(200, 2000)}, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
		Question: "Approve?", MaxRounds: 2, Fallback: config.FallbackAskHuman, StartedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	v := e.runUntil(t, started.ID, store.NegotiationPendingHuman)
	if v.Outcome.Decision != negotiation.DecisionPending {
		t.Fatalf("outcome %+v", v.Outcome)
	}
	if _, err := e.svc.Decide(t.Context(), "neg-nope", negotiation.Decision{Approve: true, DecidedBy: "alice"}); !errors.Is(err, negotiation.ErrNotFound) {
		t.Errorf("deciding an unknown negotiation: %v", err)
	}
	if _, err := e.svc.Decide(t.Context(), started.ID, negotiation.Decision{Approve: true, DecidedBy: "alice", Terms: json.RawMessage(`{"amount": 250}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Decide(t.Context(), started.ID, negotiation.Decision{Approve: false, DecidedBy: "bob"}); !errors.Is(err, negotiation.ErrNotPending) {
		t.Errorf("deciding twice: %v", err)
	}
	v = e.runUntil(t, started.ID, store.NegotiationDone)
	if v.Outcome.Decision != negotiation.DecisionApproved || v.Outcome.DecidedBy != "alice" || amountOf(v.Outcome.Terms) != 250 || v.Outcome.DecidedAt == nil {
		t.Errorf("outcome %+v", v.Outcome)
	}
	got, _ := e.ws.GetTicket(t.Context(), tk.ID)
	if got.Status != workspace.StatusEscalated || got.Approval.DecidedBy != "alice" || got.Approval.Decision != negotiation.DecisionApproved {
		t.Errorf("ticket %s approval %+v", got.Status, got.Approval)
	}
}

// TestResumeAfterRestart stops the runner while a turn is in flight and
// starts another (a restarted gateway): the turn is resent with the same
// message ID, no round is lost or repeated, and the outcome is that of an
// uninterrupted run.
//
// It runs in a bubble: the leases lapse on its clock, so whether a's lease
// is still live when b tries it does not depend on the machine's speed.
func TestResumeAfterRestart(t *testing.T) { synctest.Test(t, testResumeAfterRestart) }

func testResumeAfterRestart(t *testing.T) {
	ctxA, cancelA := context.WithCancel(t.Context())
	block := make(chan struct{})
	var once sync.Once
	play := script{"billing": biller(500, 300), "escalation": func(out negotiation.Outgoing) (negotiation.Reply, error) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(block)
			<-ctxA.Done() // replica a dies while escalation thinks
			return negotiation.Reply{}, ctxA.Err()
		}
		return approver(350, 2000)(out)
	}}
	e := newEnv(t, play, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	// Replica a's store never releases its lease, as after kill -9.
	a := negotiation.New(noRelease{e.st}, e.ws, e.send, negotiation.Options{Owner: "a", Lease: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	started, err := a.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"}, Question: "Approve?", StartedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	aDone := make(chan struct{})
	go func() { defer close(aDone); _ = a.Run(ctxA) }()
	<-block
	n, err := e.st.GetNegotiation(t.Context(), started.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n.LeaseOwner != "a" {
		t.Fatalf("lease owner %q", n.LeaseOwner)
	}
	// Nobody else may take it while a's lease is live.
	if _, err := e.st.ClaimNegotiation(t.Context(), "b", time.Now(), time.Second); !errors.Is(err, store.ErrNoNegotiation) {
		t.Fatalf("claimed a live lease: %v", err)
	}
	cancelA()
	<-aDone
	// Replica b takes over once the lease lapses.
	e.svc = negotiation.New(e.st, e.ws, e.send, negotiation.Options{Owner: "b", Lease: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	v := e.runUntil(t, started.ID)
	if v.Outcome == nil || v.Outcome.Status != negotiation.StatusAgreed || amountOf(v.Outcome.Terms) != 350 || v.Outcome.Rounds != 3 {
		t.Fatalf("outcome %+v", v.Outcome)
	}
	ids := e.send.messageIDs()
	r2 := started.ID + "/r2/escalation"
	count := 0
	for _, id := range ids {
		if id == r2 {
			count++
		}
	}
	if count != 2 {
		t.Errorf("round 2 sent %d times (%v), want twice with one message ID: once by a, resent by b", count, ids)
	}
	resends := 0
	for _, en := range v.Transcript {
		if en.Kind == negotiation.EntryResend {
			resends++
		}
	}
	if resends != 1 || len(v.History) != 3 {
		t.Errorf("resends %d, history %+v", resends, v.History)
	}
}

// noRelease is a store whose leases are never given up, as a killed
// process would leave them.
type noRelease struct{ *sqlite.Store }

func (noRelease) ReleaseNegotiationLease(context.Context, string, string) error { return nil }

func TestStartRefusesBadRequests(t *testing.T) {
	e := newEnv(t, script{}, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	tests := []struct {
		name string
		req  negotiation.StartRequest
		want string
	}{
		{"one participant", negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing"}, Question: "?"}, "participants"},
		{"duplicate participant", negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "Billing"}, Question: "?"}, "distinct"},
		{"no question", negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"a", "b"}}, "question"},
		{"terms not an object", negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"a", "b"}, Question: "?", Terms: json.RawMessage(`[1]`)}, "terms"},
		{"bad fallback", negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"a", "b"}, Question: "?", Fallback: "coin"}, "fallback"},
		{"too many rounds", negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"a", "b"}, Question: "?", MaxRounds: 1000}, "max_rounds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Start(t.Context(), tc.req)
			if !errors.Is(err, negotiation.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
	if _, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: "T-NOPE", Participants: []string{"a", "b"}, Question: "?"}); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("unknown ticket: %v", err)
	}
}
