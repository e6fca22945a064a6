package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// agentTurns plays two participants of the negotiation extension: billing
// proposes 500 and holds, escalation counters at 200 and holds, so that
// with ask_human the negotiation ends waiting for a person. They stand in
// for A2A agents (the e2e tests use real ones).
type agentTurns struct{}

func (agentTurns) Send(_ context.Context, agent string, out negotiation.Outgoing) (negotiation.Reply, error) {
	amount, rationale := 500.0, "loyal customer"
	if agent == "escalation" {
		amount, rationale = 200, "policy cap"
	}
	m := negotiation.MoveCounter
	if out.Turn.Standing == nil {
		m = negotiation.MovePropose
	}
	data, _ := json.Marshal(map[string]any{"type": negotiation.MoveType, "move": m, "terms": map[string]any{"amount": amount}, "rationale": rationale})
	return negotiation.Reply{Data: data}, nil
}

// pipeline is a workspace and negotiation service over a fresh SQLite
// store, with the ticket and negotiation routes on a real gateway router.
type pipeline struct {
	st  *sqlite.Store
	ws  *workspace.Workspace
	neg *negotiation.Service
	srv *httptest.Server
}

func newPipeline(t *testing.T, opts adminapi.NegotiationOptions, negOpts ...func(*negotiation.Options)) *pipeline {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &pipeline{st: st, ws: workspace.New(st, workspace.Options{})}
	no := negotiation.Options{PollInterval: 20 * time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }}
	for _, f := range negOpts {
		f(&no)
	}
	p.neg = negotiation.New(st, p.ws, agentTurns{}, no)
	g, err := gateway.New(config.Default(), gateway.Deps{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminapi.NewTickets(p.ws, p.neg, opts.Options).Mount(g.Router())
	adminapi.NewNegotiations(p.neg, opts).Mount(g.Router())
	p.srv = httptest.NewServer(g.Handler())
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pipeline) ticket(t *testing.T, customer string, status workspace.Status, refund float64) workspace.Ticket {
	t.Helper()
	cat := "billing"
	tk, _, err := p.ws.SaveTicket(t.Context(), "triage", workspace.TicketInput{Customer: &customer, Category: &cat, RefundAmount: &refund})
	if err != nil {
		t.Fatal(err)
	}
	if status != workspace.StatusNew {
		if tk, _, err = p.ws.SaveTicket(t.Context(), "triage", workspace.TicketInput{ID: tk.ID, Status: &status}); err != nil {
			t.Fatal(err)
		}
	}
	return tk
}

// pendingHuman starts a negotiation about tk and runs the engine until it
// waits for a person (watching the feed, not a clock).
func (p *pipeline) pendingHuman(t *testing.T, tk workspace.Ticket) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	changes, err := p.st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	started, err := p.neg.Start(ctx, negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
		Question: "Refund?", MaxRounds: 2, Fallback: config.FallbackAskHuman, StartedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.neg.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	for {
		n, err := p.st.GetNegotiation(ctx, started.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n.State == store.NegotiationPendingHuman {
			return started.ID
		}
		select {
		case <-ctx.Done():
			t.Fatalf("negotiation %s never waited for a person (state %s)", started.ID, n.State)
		case <-changes:
		}
	}
}

func decodeAs[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("status %d, body %s: %v", r.status, r.body, err)
	}
	return v
}

func TestTicketsAPI(t *testing.T) {
	p := newPipeline(t, adminapi.NegotiationOptions{})
	a := p.ticket(t, "Ada", workspace.StatusNew, 20)
	b := p.ticket(t, "Bo", workspace.StatusTriaged, 30)
	if _, err := p.ws.SaveAnalysis(t.Context(), "billing-agent", a.ID, "billing", json.RawMessage(`{"eligible":true}`)); err != nil {
		t.Fatal(err)
	}

	list := decodeAs[api.TicketList](t, call(t, p.srv, "GET", "/api/v1/tickets", ""))
	var ids []string
	for _, tk := range list.Tickets {
		ids = append(ids, tk.ID+":"+tk.Customer+":"+tk.Status)
	}
	want := []string{a.ID + ":Ada:new", b.ID + ":Bo:triaged"}
	slices.Sort(want)
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("listing (-want +got):\n%s", diff)
	}
	triaged := decodeAs[api.TicketList](t, call(t, p.srv, "GET", "/api/v1/tickets?status=triaged", ""))
	if len(triaged.Tickets) != 1 || triaged.Tickets[0].ID != b.ID {
		t.Errorf("status=triaged: %+v", triaged.Tickets)
	}
	page := decodeAs[api.TicketList](t, call(t, p.srv, "GET", "/api/v1/tickets?limit=1", ""))
	if len(page.Tickets) != 1 || page.Next == "" {
		t.Fatalf("limit=1: %+v", page)
	}
	rest := decodeAs[api.TicketList](t, call(t, p.srv, "GET", "/api/v1/tickets?after="+page.Next, ""))
	if len(rest.Tickets) != 1 || rest.Tickets[0].ID == page.Tickets[0].ID || rest.Next != "" {
		t.Errorf("the second page: %+v", rest)
	}

	d := decodeAs[api.TicketDetail](t, call(t, p.srv, "GET", "/api/v1/tickets/"+a.ID, ""))
	if d.Ticket.ID != a.ID || d.Ticket.RefundAmount != 20 {
		t.Errorf("ticket %+v", d.Ticket)
	}
	if len(d.Analyses) != 1 || d.Analyses[0].Namespace != "billing" || string(d.Analyses[0].Findings) != `{"eligible":true}` {
		t.Errorf("analyses %+v", d.Analyses)
	}
	if len(d.History) != 1 || d.History[0].Action != "create" || d.History[0].Actor != "triage" {
		t.Errorf("history %+v", d.History)
	}
	if d.Negotiations == nil || len(d.Negotiations) != 0 {
		t.Errorf("negotiations %+v, want an empty list", d.Negotiations)
	}

	for _, tc := range []struct{ path, wantErr string }{
		{"/api/v1/tickets?status=lost", `status: "lost" is not a ticket status`},
		{"/api/v1/tickets?limit=0", "limit"},
		{"/api/v1/tickets?colour=red", `unknown query parameter "colour"`},
		{"/api/v1/tickets/" + strings.Repeat("x", 300), "ticket_id"},
	} {
		r := call(t, p.srv, "GET", tc.path, "")
		if r.status != 400 || !strings.Contains(r.errText(), tc.wantErr) {
			t.Errorf("GET %s: %d %q, want 400 containing %q", tc.path, r.status, r.errText(), tc.wantErr)
		}
	}
	if r := call(t, p.srv, "GET", "/api/v1/tickets/T-nope", ""); r.status != 404 || r.errText() != `ticket "T-nope" not found` {
		t.Errorf("unknown ticket: %d %q", r.status, r.errText())
	}
}

func TestNegotiationsAPIDecide(t *testing.T) {
	p := newPipeline(t, adminapi.NegotiationOptions{DecidedBy: func(context.Context) string { return "alice" }})
	tk := p.ticket(t, "Ada", workspace.StatusEscalated, 500)
	id := p.pendingHuman(t, tk)

	list := decodeAs[api.NegotiationList](t, call(t, p.srv, "GET", "/api/v1/negotiations?state=pending_human", ""))
	if len(list.Negotiations) != 1 || list.Negotiations[0].ID != id || list.Negotiations[0].Outcome == nil ||
		list.Negotiations[0].Outcome.Decision != "pending_human" {
		t.Fatalf("pending listing %+v", list)
	}
	for _, path := range []string{"/api/v1/negotiations?state=lost", "/api/v1/negotiations?limit=501", "/api/v1/negotiations?colour=red"} {
		if r := call(t, p.srv, "GET", path, ""); r.status != 400 {
			t.Errorf("GET %s: %d %s, want 400", path, r.status, r.body)
		}
	}
	if none := decodeAs[api.NegotiationList](t, call(t, p.srv, "GET", "/api/v1/negotiations?state=done", "")); len(none.Negotiations) != 0 {
		t.Errorf("state=done lists %+v", none.Negotiations)
	}
	n := decodeAs[api.Negotiation](t, call(t, p.srv, "GET", "/api/v1/negotiations/"+id, ""))
	var moves []string
	for _, m := range n.Moves {
		moves = append(moves, fmt.Sprintf("%d %s %s %s %s", m.Round, m.By, m.Move, m.Terms, m.Rationale))
	}
	wantMoves := []string{`1 billing propose {"amount":500} loyal customer`, `2 escalation counter {"amount":200} policy cap`}
	if diff := cmp.Diff(wantMoves, moves); diff != "" {
		t.Errorf("moves (-want +got):\n%s", diff)
	}
	if n.Subject.ID != tk.ID || n.Fallback != config.FallbackAskHuman || len(n.Transcript) == 0 || n.Transcript[0].Kind != "start" {
		t.Errorf("negotiation %+v", n)
	}
	d := decodeAs[api.TicketDetail](t, call(t, p.srv, "GET", "/api/v1/tickets/"+tk.ID, ""))
	if len(d.Negotiations) != 1 || d.Negotiations[0].ID != id || d.Ticket.Approval == nil || d.Ticket.Approval.Decision != "pending_human" {
		t.Errorf("the ticket's negotiations %+v, approval %+v", d.Negotiations, d.Ticket.Approval)
	}

	for _, tc := range []struct {
		body       string
		wantStatus int
		wantErr    string
	}{
		{`{"decision":"maybe"}`, 400, `decision: "maybe" must be approve or deny`},
		{`{"decision":"deny","terms":{"amount":1}}`, 400, "only an approval has terms"},
		{`{"decision":"approve","terms":[1]}`, 400, "terms must be a JSON object"},
		{`{"decision":"approve","colour":"red"}`, 400, "unknown field"},
		{``, 400, "empty"},
	} {
		r := call(t, p.srv, "POST", "/api/v1/negotiations/"+id+"/decide", tc.body)
		if r.status != tc.wantStatus || !strings.Contains(r.errText(), tc.wantErr) {
			t.Errorf("decide %s: %d %q, want %d containing %q", tc.body, r.status, r.errText(), tc.wantStatus, tc.wantErr)
		}
	}
	if r := call(t, p.srv, "POST", "/api/v1/negotiations/neg-nope/decide", `{"decision":"deny"}`); r.status != 404 {
		t.Errorf("deciding an unknown negotiation: %d %s", r.status, r.body)
	}

	r := call(t, p.srv, "POST", "/api/v1/negotiations/"+id+"/decide", `{"decision":"approve","terms":{"amount":300},"reason":"goodwill"}`)
	got := decodeAs[api.Negotiation](t, r)
	if r.status != 200 || got.Outcome == nil || got.Outcome.Decision != "approved" || got.Outcome.DecidedBy != "alice" ||
		string(got.Outcome.Terms) != `{"amount":300}` || !strings.Contains(got.Outcome.Reason, "goodwill") {
		t.Fatalf("decide: %d %+v", r.status, got.Outcome)
	}
	if last := got.Transcript[len(got.Transcript)-1]; last.Kind != "decided" || last.Participant != "alice" {
		t.Errorf("the transcript ends with %+v", last)
	}
	again := call(t, p.srv, "POST", "/api/v1/negotiations/"+id+"/decide", `{"decision":"deny"}`)
	if again.status != 409 || !strings.Contains(again.errText(), "pending_human") {
		t.Errorf("deciding twice: %d %q", again.status, again.errText())
	}
}

func TestNegotiationsAPIRefusals(t *testing.T) {
	errDenied := errors.New("not allowed: agent:billing:approve")
	p := newPipeline(t, adminapi.NegotiationOptions{Options: adminapi.Options{Authorize: func(_ *http.Request, action string) error {
		if action == adminapi.ActionListNegotiations {
			return fmt.Errorf("%w: admin:list_negotiations", adminapi.ErrForbidden)
		}
		return nil
	}}, Denied: func(err error) bool { return errors.Is(err, errDenied) }}, func(o *negotiation.Options) {
		// The domain's own check: deciding needs approve on every
		// participant, whoever calls.
		o.Authorize = func(_ context.Context, agent, action string) error {
			if action == "approve" {
				return errDenied
			}
			return nil
		}
	})
	if r := call(t, p.srv, "GET", "/api/v1/negotiations", ""); r.status != 403 || !strings.Contains(r.errText(), "admin:list_negotiations") {
		t.Errorf("a refused listing: %d %s", r.status, r.body)
	}
	id := p.pendingHuman(t, p.ticket(t, "Ada", workspace.StatusEscalated, 500))
	if r := call(t, p.srv, "POST", "/api/v1/negotiations/"+id+"/decide", `{"decision":"approve"}`); r.status != 403 || r.errText() != errDenied.Error() {
		t.Errorf("a decision the domain refuses: %d %s", r.status, r.body)
	}
	if n := decodeAs[api.Negotiation](t, call(t, p.srv, "GET", "/api/v1/negotiations/"+id, "")); n.Outcome == nil || n.Outcome.Decision != "pending_human" {
		t.Errorf("after a refused decision: %+v", n.Outcome)
	}
	for _, tc := range []struct {
		path       string
		wantStatus int
	}{
		{"/api/v1/negotiations/neg-nope", 404},
		{"/api/v1/negotiations/" + strings.Repeat("n", 300), 400},
	} {
		if r := call(t, p.srv, "GET", tc.path, ""); r.status != tc.wantStatus {
			t.Errorf("GET %s: %d %s, want %d", tc.path, r.status, r.body, tc.wantStatus)
		}
	}
}
