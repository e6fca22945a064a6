package mcpbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// scriptSender plays the participants: the move of each round comes from
// the script, whoever's turn it is. Real agents are tested in negotiation
// and e2e.
type scriptSender struct {
	moves map[int]string // round → the move's data part
	// gate, if set, holds every turn until it is closed.
	gate chan struct{}

	mu   sync.Mutex
	sent []string // message IDs
}

func (s *scriptSender) Send(ctx context.Context, agent string, msg negotiation.Outgoing) (negotiation.Reply, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return negotiation.Reply{}, fmt.Errorf("%w: %v", negotiation.ErrTransport, ctx.Err())
		}
	}
	s.mu.Lock()
	s.sent = append(s.sent, msg.MessageID)
	s.mu.Unlock()
	m, ok := s.moves[msg.Turn.Round]
	if !ok {
		return negotiation.Reply{Problem: "the script has no move for round " + fmt.Sprint(msg.Turn.Round)}, nil
	}
	return negotiation.Reply{Data: json.RawMessage(m)}, nil
}

func move(kind string, amount float64, rationale string) string {
	m := map[string]any{"type": negotiation.MoveType, "move": kind, "rationale": rationale}
	if amount > 0 {
		m["terms"] = map[string]any{"amount": amount}
	}
	data, _ := json.Marshal(m)
	return string(data)
}

// Scripts: billing opens with the requested 500, escalation counters 350;
// then billing accepts (agreement in 3 rounds), or the rounds run out.
var (
	agreeScript = map[int]string{
		1: move("propose", 500, "6-year customer"),
		2: move("counter", 350, "policy cap for this tier"),
		3: move("accept", 0, "fair"),
	}
	stalemateScript = map[int]string{
		1: move("propose", 500, "6-year customer"),
		2: move("counter", 350, "policy cap for this tier"),
	}
)

type knownAgents []string

func (k knownAgents) Exists(_ context.Context, name string) (bool, error) {
	return slices.ContainsFunc(k, func(a string) bool { return strings.EqualFold(a, name) }), nil
}

type negFixture struct {
	*fixture
	svc    *negotiation.Service
	sender *scriptSender
}

// newNegFixture serves the bridge with a real negotiation service over a
// real SQLite store, its participants played by sender.
func newNegFixture(t *testing.T, sender *scriptSender, rules []config.Rule) *negFixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := workspace.New(st, workspace.Options{ConfirmRefundAbove: ptr(-1.0)})
	opts := negotiation.Options{Agents: knownAgents{"billing", "escalation"}, PollInterval: 50 * time.Millisecond, RetryBackoff: time.Millisecond}
	if rules != nil {
		if opts.Rules, err = negotiation.CompileRules(rules, negotiation.RuleOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := negotiation.New(st, ws, sender, opts)
	b, err := New(ws, st, Options{EventStore: NewEventStore(st, EventStoreOptions{}), Negotiations: svc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	bridgeDone := runFollowing(t, ctx, b)
	go func() { defer wg.Done(); <-bridgeDone }()
	go func() { defer wg.Done(); _ = svc.Run(ctx) }()
	srv := httptest.NewServer(b) // 127.0.0.1
	t.Cleanup(func() {
		if sender.gate != nil {
			select {
			case <-sender.gate:
			default:
				close(sender.gate)
			}
		}
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		wg.Wait()
		st.Close()
	})
	return &negFixture{fixture: &fixture{bridge: b, ws: ws, url: srv.URL}, svc: svc, sender: sender}
}

// triagedTicket saves T-1, a billing ticket asking for a 500 refund, and
// triages it: version 2.
func (f *negFixture) triagedTicket(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if _, _, err := f.ws.SaveTicket(ctx, "intake", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Category: ptr("billing"), RefundAmount: ptr(500.0)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusTriaged)}); err != nil {
		t.Fatal(err)
	}
}

func (f *negFixture) ticket(t *testing.T) workspace.Ticket {
	t.Helper()
	tk, err := f.ws.GetTicket(t.Context(), "T-1")
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func startArgs(extra map[string]any) map[string]any {
	args := map[string]any{"ticket_id": "T-1", "participants": []string{"billing", "escalation"},
		"question": "Approve an exception refund of 500.00 for ticket T-1?", "terms": map[string]any{"amount": 500}}
	for k, v := range extra {
		args[k] = v
	}
	return args
}

func amountOf(t *testing.T, terms json.RawMessage) float64 {
	t.Helper()
	var m struct {
		Amount float64 `json:"amount"`
	}
	if err := json.Unmarshal(terms, &m); err != nil {
		t.Fatalf("terms %s: %v", terms, err)
	}
	return m.Amount
}

func TestStartNegotiation(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newNegFixture(t, &scriptSender{moves: agreeScript, gate: make(chan struct{})}, nil)
			updated := make(chan string, 64)
			cs := f.connect(t, gen.version, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { updated <- req.Params.URI },
			})
			ctx := t.Context()
			f.triagedTicket(t)

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
				if tool.OutputSchema == nil || tool.Description == "" {
					t.Errorf("tool %s lacks an output schema or description", tool.Name)
				}
				for _, schema := range []any{tool.InputSchema, tool.OutputSchema} {
					data, _ := json.Marshal(schema)
					var s struct {
						Properties map[string]json.RawMessage `json:"properties"`
					}
					_ = json.Unmarshal(data, &s)
					for prop, ps := range s.Properties {
						if !strings.HasPrefix(strings.TrimSpace(string(ps)), "{") {
							t.Errorf("tool %s: property %s has schema %s, not an object", tool.Name, prop, ps)
						}
					}
				}
			}
			for _, want := range []string{ToolStartNegotiation, ToolGetNegotiation, ToolDecideNegotiation} {
				if !slices.Contains(names, want) {
					t.Errorf("tools/list lacks %s", want)
				}
			}
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "ticket://T-1"}); err != nil {
				t.Fatal(err)
			}

			// The agents are held back: the tool answers while the
			// negotiation is still under way.
			var started startNegotiationOut
			res := call(t, cs, ToolStartNegotiation, startArgs(nil), &started)
			if started.Status != negotiation.StatusRunning || !strings.HasPrefix(started.NegotiationID, "neg-") {
				t.Fatalf("start_negotiation = %+v", started)
			}
			uri := "negotiation://" + started.NegotiationID
			if got := links(res); !slices.Equal(got, []string{uri, "ticket://T-1"}) {
				t.Errorf("start_negotiation links = %v, want %s and ticket://T-1", got, uri)
			}
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			if got := f.ticket(t); got.Approval != nil {
				t.Fatalf("approval before any move: %+v", got.Approval)
			}
			close(f.sender.gate)

			// The outcome reaches the subscriber of ticket://T-1.
			var doc ticketResource
			negotiationUpdated := false
			timeout := time.After(15 * time.Second)
			for doc.Ticket.Approval == nil || !negotiationUpdated {
				select {
				case u := <-updated:
					switch u {
					case uri:
						negotiationUpdated = true
					case "ticket://T-1":
						rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: u})
						if err != nil {
							t.Fatal(err)
						}
						if err := json.Unmarshal([]byte(rr.Contents[0].Text), &doc); err != nil {
							t.Fatal(err)
						}
					}
				case <-timeout:
					t.Fatalf("no resources/updated with the outcome (negotiation updated: %v, ticket %+v)", negotiationUpdated, doc.Ticket)
				}
			}
			a := doc.Ticket.Approval
			if a.NegotiationID != started.NegotiationID || a.Status != negotiation.StatusAgreed || a.Decision != negotiation.DecisionApproved ||
				amountOf(t, a.Terms) != 350 || a.Rounds != 3 || a.DecidedBy != negotiation.DecidedByAgents || a.DecidedAt == nil {
				t.Errorf("ticket://T-1 approval = %+v", a)
			}
			if doc.Ticket.Status != workspace.StatusTriaged {
				t.Errorf("status after the negotiation = %s, want triaged again", doc.Ticket.Status)
			}

			// negotiation://{id}: the outcome first, then the transcript.
			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
			if err != nil {
				t.Fatal(err)
			}
			body := rr.Contents[0].Text
			if !strings.HasPrefix(body, "{\n  \"outcome\": {") {
				t.Errorf("negotiation resource does not start with the outcome: %.80s", body)
			}
			var view negotiation.View
			if err := json.Unmarshal([]byte(body), &view); err != nil {
				t.Fatal(err)
			}
			if view.Outcome == nil || view.Outcome.Status != negotiation.StatusAgreed || len(view.History) != 3 || len(view.Transcript) < 7 {
				t.Errorf("negotiation resource = %+v", view)
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "negotiation://neg-nope"}); err == nil {
				t.Error("reading an unknown negotiation succeeded")
			}
			// (A 2026-07-28 subscription is a listen stream: refusals do
			// not come back as the call's error.)
			if gen.version != "" {
				if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "negotiation://neg-nope"}); err == nil {
					t.Error("subscribing to an unknown negotiation succeeded")
				}
			}
		})
	}
}

func TestGetNegotiation(t *testing.T) {
	f := newNegFixture(t, &scriptSender{moves: agreeScript}, nil)
	cs := f.connect(t, "", nil)
	f.triagedTicket(t)
	var started startNegotiationOut
	call(t, cs, ToolStartNegotiation, startArgs(map[string]any{"max_rounds": 4, "fallback": "deny"}), &started)
	waitFor(t, "the outcome", func() bool { return f.ticket(t).Approval != nil })
	waitFor(t, "the negotiation to be done", func() bool {
		v, err := f.svc.Get(t.Context(), started.NegotiationID)
		return err == nil && v.Outcome != nil && strings.Contains(fmt.Sprint(v.Transcript), "outcome")
	})
	var v negotiation.View
	res := call(t, cs, ToolGetNegotiation, map[string]any{"negotiation_id": started.NegotiationID}, &v)
	if v.ID != started.NegotiationID || v.Subject.ID != "T-1" || v.MaxRounds != 4 || v.Fallback != "deny" || v.StartedBy != "test-host" ||
		v.Outcome == nil || v.Outcome.Decision != negotiation.DecisionApproved || amountOf(t, v.Outcome.Terms) != 350 {
		t.Errorf("get_negotiation = %+v", v)
	}
	want := []string{"round 1/4: billing proposed 500.00", "round 2/4: escalation countered 350.00", "round 3/4: billing accepted"}
	var got []string
	for _, m := range v.History {
		got = append(got, negotiation.DescribeMove(m, v.MaxRounds))
	}
	if !slices.Equal(got, want) {
		t.Errorf("moves = %q, want %q", got, want)
	}
	if l := links(res); !slices.Equal(l, []string{"negotiation://" + v.ID, "ticket://T-1"}) {
		t.Errorf("get_negotiation links = %v", l)
	}
}

func TestRulesStartNegotiationsFromWrites(t *testing.T) {
	rules := []config.Rule{
		{Name: "refund-over-limit", When: `ticket.category == "billing" && ticket.refund_amount > 200.0 && !has(ticket.approval)`,
			Participants: []string{"billing", "escalation"}, Terms: map[string]string{"amount": "ticket.refund_amount"},
			Question: "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?"},
		// Fails at evaluation on every ticket without approval terms (the
		// contents of terms are not declared to the type checker): its
		// error is logged, and neither the save nor the other rule suffer.
		{Name: "broken", When: `ticket.approval.terms.amount > 1.0`, Participants: []string{"billing", "escalation"}},
	}
	tests := []struct {
		name     string
		tool     string
		args     map[string]any
		setup    func(t *testing.T, f *negFixture)
		wantRule string // "" for none
	}{
		{"save_ticket creates an over-limit refund", ToolSaveTicket,
			map[string]any{"ticket_id": "T-1", "customer": "acme", "category": "billing", "refund_amount": 500.0}, nil, "refund-over-limit"},
		{"save_ticket under the limit", ToolSaveTicket,
			map[string]any{"ticket_id": "T-1", "customer": "acme", "category": "billing", "refund_amount": 50.0}, nil, ""},
		{"save_ticket raises the refund", ToolSaveTicket, map[string]any{"ticket_id": "T-1", "refund_amount": 900.0},
			func(t *testing.T, f *negFixture) {
				if _, _, err := f.ws.SaveTicket(t.Context(), "intake", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Category: ptr("billing"), RefundAmount: ptr(50.0)}); err != nil {
					t.Fatal(err)
				}
			}, "refund-over-limit"},
		{"save_ticket that changes nothing", ToolSaveTicket, map[string]any{"ticket_id": "T-1", "category": "billing"},
			func(t *testing.T, f *negFixture) {
				// Written by the engine's own name: rules do not fire on it,
				// and an idle save must not make them fire either.
				if _, _, err := f.ws.SaveTicket(t.Context(), negotiation.Actor, workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Category: ptr("billing"), RefundAmount: ptr(500.0)}); err != nil {
					t.Fatal(err)
				}
			}, ""},
		{"escalate", ToolEscalate, map[string]any{"ticket_id": "T-1", "reason": "refund over my limit"},
			func(t *testing.T, f *negFixture) {
				if _, _, err := f.ws.SaveTicket(t.Context(), negotiation.Actor, workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Category: ptr("billing"), RefundAmount: ptr(500.0)}); err != nil {
					t.Fatal(err)
				}
			}, "refund-over-limit"},
	}
	for _, gen := range generations {
		for _, tt := range tests {
			t.Run(gen.name+"/"+tt.name, func(t *testing.T) {
				f := newNegFixture(t, &scriptSender{moves: agreeScript, gate: make(chan struct{})}, rules)
				cs := f.connect(t, gen.version, nil)
				if tt.setup != nil {
					tt.setup(t, f)
				}
				var out struct {
					Ticket       workspace.Ticket `json:"ticket"`
					Negotiations []startedOut     `json:"negotiations"`
				}
				res := call(t, cs, tt.tool, tt.args, &out)
				if out.Ticket.ID != "T-1" {
					t.Fatalf("%s = %+v", tt.tool, out)
				}
				ns, err := f.svc.ForTicket(t.Context(), "T-1")
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantRule == "" {
					if len(out.Negotiations) != 0 || len(ns) != 0 || slices.ContainsFunc(links(res), func(l string) bool { return strings.HasPrefix(l, "negotiation://") }) {
						t.Errorf("negotiations %+v (stored %d), links %v; want none", out.Negotiations, len(ns), links(res))
					}
					return
				}
				if len(out.Negotiations) != 1 || out.Negotiations[0].Rule != tt.wantRule || len(ns) != 1 || ns[0].ID != out.Negotiations[0].NegotiationID {
					t.Fatalf("negotiations = %+v (stored %+v)", out.Negotiations, ns)
				}
				if got, want := links(res), []string{"ticket://T-1", "negotiation://" + ns[0].ID}; !slices.Equal(got, want) {
					t.Errorf("links = %v, want %v", got, want)
				}
				if ns[0].StartedBy != "rule:"+tt.wantRule || !strings.Contains(ns[0].Question, "T-1") || amountOf(t, ns[0].Requested) != out.Ticket.RefundAmount {
					t.Errorf("started negotiation = %+v", ns[0])
				}
			})
		}
	}
}

// collectProgress records progress messages.
type collectProgress struct {
	mu  sync.Mutex
	got []string
}

func (c *collectProgress) handler(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	c.mu.Lock()
	c.got = append(c.got, req.Params.Message)
	c.mu.Unlock()
}

// wait gives notifications, handled apart from the response, a moment to
// land (a hang guard, not a timing assertion).
func (c *collectProgress) wait(n int) []string {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		k := len(c.got)
		c.mu.Unlock()
		if k >= n {
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func callWait(t *testing.T, cs *mcp.ClientSession, args map[string]any) waitOut {
	t.Helper()
	params := &mcp.CallToolParams{Name: ToolWaitForTicket, Arguments: args}
	params.SetProgressToken("wait")
	res, err := cs.CallTool(t.Context(), params)
	if err != nil || res.IsError {
		t.Fatalf("wait_for_ticket: %v %+v", err, res)
	}
	var out waitOut
	data, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWaitForTicketReportsRounds(t *testing.T) {
	tests := []struct {
		name  string
		since bool // since_version 2: from before the negotiation started
	}{
		{"from now", false},
		{"since version 2", true},
	}
	for _, gen := range generations {
		for _, tt := range tests {
			t.Run(gen.name+"/"+tt.name, func(t *testing.T) {
				f := newNegFixture(t, &scriptSender{moves: agreeScript, gate: make(chan struct{})}, nil)
				var progress collectProgress
				cs := f.connect(t, gen.version, &mcp.ClientOptions{ProgressNotificationHandler: progress.handler})
				f.triagedTicket(t)
				var started startNegotiationOut
				call(t, cs, ToolStartNegotiation, startArgs(nil), &started)
				waitFor(t, "the ticket to be negotiating", func() bool { return f.ticket(t).Status == workspace.StatusNegotiating })
				// The agents answer only once the call has read the
				// ticket: "from now" then means before the first round.
				waiting := f.bridge.waiting("T-1")
				go func() {
					<-waiting
					close(f.sender.gate)
				}()
				args := map[string]any{"ticket_id": "T-1", "statuses": []string{"triaged"}, "timeout_seconds": 30}
				if tt.since {
					args["since_version"] = 2
				}
				out := callWait(t, cs, args)
				if !out.Reached || out.Ticket.Approval == nil || out.Ticket.Approval.Decision != negotiation.DecisionApproved {
					t.Errorf("wait_for_ticket = %+v", out)
				}
				id := started.NegotiationID
				var want []string
				if tt.since {
					want = append(want, "negotiation "+id+" started between billing, escalation: Approve an exception refund of 500.00 for ticket T-1?", "negotiating")
				}
				want = append(want,
					"round 1/6: billing proposed 500.00",
					"round 2/6: escalation countered 350.00",
					"round 3/6: billing accepted",
					"negotiation "+id+": agreed, approved 350.00",
					"approval approved by negotiation "+id+"; status triaged")
				if got := progress.wait(len(want)); !slices.Equal(got, want) {
					t.Errorf("progress =\n%q\nwant\n%q", got, want)
				}
				if out.NegotiationEvents != 4+btoi(tt.since) || out.Changes != 1+btoi(tt.since) {
					t.Errorf("negotiation_events %d changes %d", out.NegotiationEvents, out.Changes)
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pendingHuman starts a negotiation whose agents do not agree in 2 rounds
// with the ask_human fallback, and waits until it waits for a person.
func (f *negFixture) pendingHuman(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	f.triagedTicket(t)
	var started startNegotiationOut
	call(t, cs, ToolStartNegotiation, startArgs(map[string]any{"max_rounds": 2, "fallback": "ask_human"}), &started)
	waitFor(t, "the negotiation to wait for a person", func() bool {
		a := f.ticket(t).Approval
		return a != nil && a.Decision == negotiation.DecisionPending
	})
	return started.NegotiationID
}

func TestAskHumanByElicitation(t *testing.T) {
	tests := []struct {
		name          string
		principal     string // the authenticated caller, if any
		answer        *mcp.ElicitResult
		wantDecided   bool
		wantDecision  string
		wantAmount    float64
		wantDecidedBy string
	}{
		{"approve the standing offer", "", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": "approve"}},
			true, negotiation.DecisionApproved, 350, "test-host"},
		{"approve another amount as a principal", "carol", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": "approve", "amount": 400.0, "reason": "loyal customer"}},
			true, negotiation.DecisionApproved, 400, "carol"},
		{"deny", "", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"decision": "deny"}},
			true, negotiation.DecisionDenied, 0, "test-host"},
		{"decline to answer", "", &mcp.ElicitResult{Action: "decline"}, false, negotiation.DecisionPending, 0, ""},
	}
	for _, gen := range generations {
		for _, tt := range tests {
			t.Run(gen.name+"/"+tt.name, func(t *testing.T) {
				f := newNegFixture(t, &scriptSender{moves: stalemateScript}, nil)
				var asked []string
				var progress collectProgress
				cs := f.connect(t, gen.version, &mcp.ClientOptions{
					ProgressNotificationHandler: progress.handler,
					ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
						asked = append(asked, req.Params.Message)
						return tt.answer, nil
					},
				})
				if tt.principal != "" {
					f.bridge.Server().AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
						return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
							return next(auth.WithPrincipal(ctx, &auth.Principal{Subject: tt.principal, ClientID: "support-app"}), method, req)
						}
					})
				}
				id := f.pendingHuman(t, cs)
				timeout := 30
				if !tt.wantDecided {
					timeout = 1
				}
				out := callWait(t, cs, map[string]any{"ticket_id": "T-1", "statuses": []string{"triaged"}, "timeout_seconds": timeout, "since_version": 2})
				if len(asked) != 1 || !strings.Contains(asked[0], id) || !strings.Contains(asked[0], "350.00 by escalation") {
					t.Fatalf("asked %q; want one question about %s with the standing offer", asked, id)
				}
				if !tt.wantDecided {
					if !out.TimedOut || len(out.Decided) != 0 || out.Ticket.Approval.Decision != negotiation.DecisionPending {
						t.Errorf("declined: wait_for_ticket = %+v; want it to time out with the negotiation pending", out)
					}
					// decide_negotiation can still settle it.
					var v negotiation.View
					call(t, cs, ToolDecideNegotiation, map[string]any{"negotiation_id": id, "decision": "deny"}, &v)
					waitFor(t, "the denial in the ticket", func() bool { return f.ticket(t).Approval.Decision == negotiation.DecisionDenied })
					return
				}
				if !out.Reached || !slices.Equal(out.Decided, []string{id}) {
					t.Fatalf("wait_for_ticket = %+v", out)
				}
				a := out.Ticket.Approval
				if a.Decision != tt.wantDecision || a.DecidedBy != tt.wantDecidedBy || a.Status != negotiation.StatusNoAgreement {
					t.Errorf("approval = %+v", a)
				}
				if tt.wantAmount > 0 && amountOf(t, a.Terms) != tt.wantAmount {
					t.Errorf("approved terms %s, want amount %v", a.Terms, tt.wantAmount)
				}
				// Every move and outcome is reported once, across the round
				// trip of the question.
				got := progress.wait(7)
				for _, want := range []string{"round 1/2: billing proposed 500.00", "round 2/2: escalation countered 350.00",
					"negotiation " + id + ": no_agreement, pending_human (a person must decide)"} {
					if n := countOf(got, want); n != 1 {
						t.Errorf("progress %q has %q %d times, want once", got, want, n)
					}
				}
				if !slices.ContainsFunc(got, func(s string) bool {
					return strings.HasPrefix(s, "negotiation "+id+": no_agreement, "+tt.wantDecision) && strings.HasSuffix(s, " by "+tt.wantDecidedBy)
				}) {
					t.Errorf("progress %q lacks the person's decision", got)
				}
			})
		}
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

func TestAskHumanByDecideNegotiation(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newNegFixture(t, &scriptSender{moves: stalemateScript}, nil)
			cs := f.connect(t, gen.version, nil) // cannot answer elicitation
			id := f.pendingHuman(t, cs)

			// Nobody can be asked: the wait goes on, the decision stays open.
			out := callWait(t, cs, map[string]any{"ticket_id": "T-1", "statuses": []string{"triaged"}, "timeout_seconds": 1})
			if !out.TimedOut || out.Ticket.Approval.Decision != negotiation.DecisionPending {
				t.Fatalf("wait_for_ticket = %+v", out)
			}
			var v negotiation.View
			res := call(t, cs, ToolDecideNegotiation, map[string]any{"negotiation_id": id, "decision": "approve",
				"terms": map[string]any{"amount": 300}, "reason": "goodwill"}, &v)
			if v.ID != id || v.Outcome == nil || v.Outcome.Decision != negotiation.DecisionApproved || v.Outcome.DecidedBy != "test-host" {
				t.Errorf("decide_negotiation = %+v", v)
			}
			if l := links(res); !slices.Contains(l, "negotiation://"+id) {
				t.Errorf("decide_negotiation links = %v", l)
			}
			waitFor(t, "the decision in the ticket", func() bool {
				a := f.ticket(t).Approval
				return a.Decision == negotiation.DecisionApproved && f.ticket(t).Status == workspace.StatusTriaged
			})
			a := f.ticket(t).Approval
			if a.DecidedBy != "test-host" || amountOf(t, a.Terms) != 300 || !strings.Contains(a.Reason, "goodwill") {
				t.Errorf("approval = %+v", a)
			}
		})
	}
}

func TestNegotiationToolErrors(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newNegFixture(t, &scriptSender{moves: agreeScript}, nil)
			cs := f.connect(t, gen.version, nil)
			f.triagedTicket(t)
			var done startNegotiationOut
			call(t, cs, ToolStartNegotiation, startArgs(nil), &done)
			waitFor(t, "the agreement", func() bool { a := f.ticket(t).Approval; return a != nil && a.Decision == negotiation.DecisionApproved })
			tests := []struct {
				name string
				tool string
				args map[string]any
				want string
			}{
				{"unknown negotiation", ToolGetNegotiation, map[string]any{"negotiation_id": "neg-nope"}, `negotiation "neg-nope" not found`},
				{"decide unknown negotiation", ToolDecideNegotiation, map[string]any{"negotiation_id": "neg-nope", "decision": "approve"}, `negotiation "neg-nope" not found`},
				{"decide a negotiation that is not pending", ToolDecideNegotiation, map[string]any{"negotiation_id": done.NegotiationID, "decision": "deny"}, "not waiting for a person"},
				{"decision outside the enum", ToolDecideNegotiation, map[string]any{"negotiation_id": done.NegotiationID, "decision": "maybe"}, "decision"},
				{"terms with a denial", ToolDecideNegotiation, map[string]any{"negotiation_id": done.NegotiationID, "decision": "deny", "terms": map[string]any{"amount": 1}}, "terms"},
				{"one participant", ToolStartNegotiation, startArgs(map[string]any{"participants": []string{"billing"}}), "participants"},
				{"unregistered participant", ToolStartNegotiation, startArgs(map[string]any{"participants": []string{"billing", "ghost"}}), `no registered agent is named "ghost"`},
				{"the same participant twice", ToolStartNegotiation, startArgs(map[string]any{"participants": []string{"billing", "Billing"}}), "distinct"},
				{"unknown ticket", ToolStartNegotiation, startArgs(map[string]any{"ticket_id": "T-404"}), "not found"},
				{"fallback outside the enum", ToolStartNegotiation, startArgs(map[string]any{"fallback": "coin_toss"}), "fallback"},
				{"too many rounds", ToolStartNegotiation, startArgs(map[string]any{"max_rounds": 1000}), "max_rounds"},
				{"negative deadline", ToolStartNegotiation, startArgs(map[string]any{"deadline_seconds": -5}), "deadline_seconds"},
				{"no question", ToolStartNegotiation, startArgs(map[string]any{"question": " "}), "question"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
					if err != nil {
						t.Fatalf("protocol error %v; want a tool error", err)
					}
					if !res.IsError || !strings.Contains(text(res), tt.want) {
						t.Errorf("result isError=%v %q; want an error mentioning %q", res.IsError, text(res), tt.want)
					}
				})
			}
			ns, _ := f.svc.ForTicket(t.Context(), "T-1")
			if len(ns) != 1 {
				t.Errorf("bad calls started negotiations: %d", len(ns))
			}
		})
	}
}

func TestNoNegotiationsWithoutService(t *testing.T) {
	f := newFixture(t)
	cs := f.connect(t, "2025-11-25", nil)
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		if strings.Contains(tool.Name, "negotiation") {
			t.Errorf("tool %s listed without a negotiation service", tool.Name)
		}
	}
	if err := cs.Subscribe(t.Context(), &mcp.SubscribeParams{URI: "negotiation://neg-1"}); err == nil {
		t.Error("subscribing to a negotiation succeeded without a negotiation service")
	}
}
