package negotiation_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

// The audit records of negotiations commit in the transaction of the
// negotiation's save they describe (issue 11): the start with its
// creation, each move with the state that holds it, a decision with the
// state that carries it. In these tests the audit.Log never runs, so a
// record committed with a save waits in the store's outbox, where the
// tests find it; a record appended on its own (Append, as before the
// outbox) is chained at once instead.

type userKey struct{}

func asUser(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, userKey{}, name)
}

// auditedEnv is newEnv with the service auditing into a Log over the same
// SQLite store (never run: see above), which names the user in ctx.
func auditedEnv(t *testing.T, play script, opts negotiation.Options) (*env, *audit.Log) {
	t.Helper()
	e := newEnv(t, play, negotiation.Options{})
	log := audit.New(e.st, audit.Options{Principal: func(ctx context.Context) audit.Principal {
		name, _ := ctx.Value(userKey{}).(string)
		return audit.Principal{Subject: name}
	}})
	opts.Audit = log
	if opts.Sleep == nil {
		opts.Sleep = func(context.Context, time.Duration) error { return nil }
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	e.svc = negotiation.New(e.st, e.ws, e.send, opts)
	return e, log
}

// auditCounts is how many records are chained and how many wait in the
// outbox, committed with writes.
type auditCounts struct{ Chained, Pending int64 }

func countAudit(t *testing.T, st store.Store) auditCounts {
	t.Helper()
	head, err := st.AuditHead(context.Background())
	if err != nil {
		t.Error(err)
	}
	pending, err := st.AuditOutboxLen(context.Background())
	if err != nil {
		t.Error(err)
	}
	return auditCounts{head.Seq, pending}
}

// auditRow is what these tests check of a record.
type auditRow struct {
	Subject, Action, Target, Outcome, NegotiationID, TicketID, RequestID string
}

// chained moves what waits in the outbox into the chain, checks that the
// chain verifies, and returns it.
func chained(t *testing.T, log *audit.Log) []auditRow {
	t.Helper()
	ctx := t.Context()
	if err := log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := log.Verify(ctx); err != nil || !res.OK || res.Pending != 0 {
		t.Errorf("Verify = %+v, %v; want OK, none pending", res, err)
	}
	recs, _, err := log.List(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var rows []auditRow
	for _, r := range recs {
		rows = append(rows, auditRow{r.Subject, r.Action, r.Target, r.Outcome, r.NegotiationID, r.TicketID, r.RequestID})
	}
	return rows
}

// TestAuditRecordsCommitWithTheirWrites: a start, every move and the
// agents' decision are each in the outbox as soon as the save they
// describe has committed (before the next turn is sent, before Start
// returns), and chain in order with their links and principals.
func TestAuditRecordsCommitWithTheirWrites(t *testing.T) {
	var (
		mu    sync.Mutex
		sends []auditCounts // at each turn sent
		e     *env
	)
	counted := func(f func(negotiation.Outgoing) (negotiation.Reply, error)) func(negotiation.Outgoing) (negotiation.Reply, error) {
		return func(out negotiation.Outgoing) (negotiation.Reply, error) {
			mu.Lock()
			sends = append(sends, countAudit(t, e.st))
			mu.Unlock()
			return f(out)
		}
	}
	e, log := auditedEnv(t, script{"billing": counted(biller(500, 300)), "escalation": counted(approver(350, 2000))}, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	started, err := e.svc.Start(asUser(t.Context(), "alice"), negotiation.StartRequest{TicketID: tk.ID,
		Participants: []string{"billing", "escalation"}, Question: "Approve?", StartedBy: "alice", RequestID: "req-42"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := countAudit(t, e.st), (auditCounts{Pending: 1}); got != want {
		t.Errorf("once Start returned: %+v, want %+v (the start committed with the negotiation)", got, want)
	}
	v := e.runUntil(t, started.ID)
	if v.Outcome == nil || v.Outcome.Status != negotiation.StatusAgreed {
		t.Fatalf("outcome %+v", v.Outcome)
	}
	// Round r is sent once the start and the r-1 moves before it
	// committed, each with its record.
	mu.Lock()
	wantSends := []auditCounts{{Pending: 1}, {Pending: 2}, {Pending: 3}}
	if diff := cmp.Diff(wantSends, sends); diff != "" {
		t.Errorf("records when each turn was sent (-want +got):\n%s", diff)
	}
	mu.Unlock()
	if got, want := countAudit(t, e.st), (auditCounts{Pending: 5}); got != want {
		t.Errorf("once done: %+v, want %+v (the decision committed with the state that says so)", got, want)
	}
	engine := negotiation.Actor
	want := []auditRow{
		{"alice", audit.ActionNegotiationStart, started.ID, audit.OK, started.ID, tk.ID, "req-42"},
		{engine, audit.ActionNegotiationMove, "billing", audit.OK, started.ID, tk.ID, "req-42"},
		{engine, audit.ActionNegotiationMove, "escalation", audit.OK, started.ID, tk.ID, "req-42"},
		{engine, audit.ActionNegotiationMove, "billing", audit.OK, started.ID, tk.ID, "req-42"},
		{engine, audit.ActionNegotiationDecision, started.ID, audit.OK, started.ID, tk.ID, "req-42"},
	}
	if diff := cmp.Diff(want, chained(t, log)); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
}

// TestPersonsDecisionCommitsWithItsWrite: a person's decision is in the
// outbox once Decide returns, naming the person; the engine writing it
// back records nothing more.
func TestPersonsDecisionCommitsWithItsWrite(t *testing.T) {
	e, log := auditedEnv(t, script{"billing": biller(500, 400), "escalation": approver(200, 2000)}, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	started, err := e.svc.Start(asUser(t.Context(), "alice"), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
		Question: "Approve?", MaxRounds: 2, Fallback: config.FallbackAskHuman, StartedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.runUntil(t, started.ID, store.NegotiationPendingHuman)
	// The start, two moves, and the fallback's call for a person.
	if got, want := countAudit(t, e.st), (auditCounts{Pending: 4}); got != want {
		t.Errorf("pending a person: %+v, want %+v", got, want)
	}
	if _, err := e.svc.Decide(asUser(t.Context(), "bob"), started.ID, negotiation.Decision{Approve: true, DecidedBy: "bob"}); err != nil {
		t.Fatal(err)
	}
	if got, want := countAudit(t, e.st), (auditCounts{Pending: 5}); got != want {
		t.Errorf("once Decide returned: %+v, want %+v", got, want)
	}
	e.runUntil(t, started.ID, store.NegotiationDone)
	rows := chained(t, log)
	if len(rows) != 5 {
		t.Fatalf("%d records, want 5: %+v", len(rows), rows)
	}
	want := auditRow{"bob", audit.ActionNegotiationDecision, started.ID, audit.OK, started.ID, tk.ID, ""}
	if diff := cmp.Diff(want, rows[4]); diff != "" {
		t.Errorf("the person's decision (-want +got):\n%s", diff)
	}
}

// refuse makes the SQLite store refuse every write of the given kind
// (INSERT, UPDATE) to the negotiations table from now on: a save that
// fails inside its own transaction.
func refuse(t *testing.T, e *env, op string) {
	t.Helper()
	// Waits its turn for the write lock, which the store's own background
	// work may hold for a moment.
	db, err := sql.Open("sqlite", e.st.Path()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `CREATE TRIGGER refuse_negotiations BEFORE `+op+` ON negotiations
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
}

// TestFailedSaveLeavesNoRecord: a save of a request that fails in the
// store (Start, Decide) leaves neither the change nor a record.
func TestFailedSaveLeavesNoRecord(t *testing.T) {
	t.Run("start", func(t *testing.T) {
		e, log := auditedEnv(t, script{}, negotiation.Options{})
		tk := e.ticket(t, workspace.StatusEscalated, 500)
		refuse(t, e, "INSERT")
		if _, err := e.svc.Start(asUser(t.Context(), "alice"), negotiation.StartRequest{TicketID: tk.ID,
			Participants: []string{"billing", "escalation"}, Question: "Approve?", StartedBy: "alice"}); err == nil {
			t.Fatal("Start succeeded")
		}
		if ns, _, err := e.st.ListNegotiations(t.Context(), store.NegotiationFilter{}); err != nil || len(ns) != 0 {
			t.Errorf("negotiations %+v, %v; want none", ns, err)
		}
		if got := countAudit(t, e.st); got != (auditCounts{}) {
			t.Errorf("records %+v, want none", got)
		}
		if rows := chained(t, log); len(rows) != 0 {
			t.Errorf("chain %+v, want empty", rows)
		}
	})
	t.Run("decide", func(t *testing.T) {
		e, _ := auditedEnv(t, script{"billing": biller(500, 400), "escalation": approver(200, 2000)}, negotiation.Options{})
		tk := e.ticket(t, workspace.StatusEscalated, 500)
		started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
			Question: "Approve?", MaxRounds: 2, Fallback: config.FallbackAskHuman, StartedBy: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		e.runUntil(t, started.ID, store.NegotiationPendingHuman)
		before := countAudit(t, e.st)
		refuse(t, e, "UPDATE")
		if _, err := e.svc.Decide(asUser(t.Context(), "bob"), started.ID, negotiation.Decision{Approve: true, DecidedBy: "bob"}); err == nil {
			t.Fatal("Decide succeeded")
		}
		if n, err := e.st.GetNegotiation(t.Context(), started.ID); err != nil || n.State != store.NegotiationPendingHuman {
			t.Errorf("negotiation %s, %v; want still pending a person", n.State, err)
		}
		if got := countAudit(t, e.st); got != before {
			t.Errorf("records %+v, want %+v as before Decide", got, before)
		}
	})
}

// TestMoveLostWithTheLease: while an agent answers, another replica takes
// the negotiation over; the answer's save then fails, and so neither the
// move nor its record is kept: the replica that holds the negotiation
// asks again and records what it gets. Before, an invalid answer was
// recorded before its save was tried.
func TestMoveLostWithTheLease(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply negotiation.Reply
	}{
		{"valid move", move(negotiation.MovePropose, 500, "loyal customer")},
		{"invalid reply", negotiation.Reply{Data: json.RawMessage(`{"note":"no move here"}`)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var e *env
				answered := false
				play := script{"billing": func(out negotiation.Outgoing) (negotiation.Reply, error) {
					// Runs in the engine: the test reads answered only
					// once the engine is idle (synctest.Wait).
					answered = true
					ctx := context.Background()
					if err := e.st.ReleaseNegotiationLease(ctx, out.Turn.NegotiationID, "a"); err != nil {
						t.Error(err)
					}
					if _, err := e.st.ClaimNegotiation(ctx, "b", time.Now(), time.Hour); err != nil {
						t.Error(err)
					}
					return tt.reply, nil
				}}
				// One slot: with a free one, a's runner claims again while
				// its turn is out, and may take the negotiation back between
				// the release and b's claim.
				e, log := auditedEnv(t, play, negotiation.Options{Owner: "a", MaxRunning: 1})
				tk := e.ticket(t, workspace.StatusEscalated, 500)
				started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
					Question: "Approve?", StartedBy: "alice"})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- e.svc.Run(ctx) }()
				synctest.Wait() // a sent the turn, lost the answer's save, and waits for work
				if !answered {
					t.Fatal("the turn was not sent")
				}
				v, err := e.svc.Get(t.Context(), started.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, en := range v.Transcript {
					if en.Kind == negotiation.EntryReply || en.Kind == negotiation.EntryInvalid {
						t.Errorf("the answer was kept: %+v", en)
					}
				}
				if len(v.History) != 0 {
					t.Errorf("history %+v, want none", v.History)
				}
				if got, want := countAudit(t, e.st), (auditCounts{Pending: 1}); got != want {
					t.Errorf("records %+v, want %+v: the start only", got, want)
				}
				want := []auditRow{{"", audit.ActionNegotiationStart, started.ID, audit.OK, started.ID, tk.ID, ""}}
				if diff := cmp.Diff(want, chained(t, log)); diff != "" {
					t.Errorf("chain (-want +got):\n%s", diff)
				}
				cancel()
				<-done
			})
		})
	}
}
