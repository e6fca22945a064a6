package agents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/examples/agents"
)

func TestCards(t *testing.T) {
	for _, role := range agents.Roles {
		t.Run(string(role), func(t *testing.T) {
			p := startPeer(t, role, agents.Options{})
			if !strings.HasPrefix(p.url, "http://127.0.0.1:") || !strings.HasSuffix(p.url, "/") || p.url == "http://127.0.0.1:0/" {
				t.Errorf("url %q", p.url)
			}
			c := p.card
			if c.Name != string(role) || c.URL != p.url || c.ProtocolVersion != "0.3.0" || c.PreferredTransport != a2a.TransportProtocolJSONRPC || len(c.Skills) == 0 {
				t.Errorf("card %+v", c)
			}
			declares := len(c.Capabilities.Extensions) == 1 && c.Capabilities.Extensions[0].URI == agents.ExtensionURI
			if declares != (role != agents.RoleTriage) {
				t.Errorf("%s declares the negotiation extension: %v (%+v)", role, declares, c.Capabilities.Extensions)
			}
			// The card as served is one Parley registers.
			resp, err := http.Get(strings.TrimSuffix(p.url, "/") + a2asrv.WellKnownAgentCardPath)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			doc, _ := io.ReadAll(resp.Body)
			if _, err := agentcards.ParseCard(doc); err != nil {
				t.Errorf("card refused by agentcards.ParseCard: %v\n%s", err, doc)
			}
			if !strings.Contains(string(doc), `"capabilities":{`) {
				t.Errorf("card JSON %s", doc)
			}
		})
	}
}

func TestNamedAgentAndURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := agents.New(agents.RoleEscalation, agents.Options{Name: "approver"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agents.Serve(ctx, ln, a) }()
	url := agents.URLFor(ln)
	resp, err := http.Get(url + strings.TrimPrefix(a2asrv.WellKnownAgentCardPath, "/"))
	if err != nil {
		t.Fatal(err)
	}
	var card a2a.AgentCard
	if err := json.NewDecoder(resp.Body).Decode(&card); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if card.Name != "approver" || card.URL != url {
		t.Errorf("card name %q url %q, want approver at %s", card.Name, card.URL, url)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := http.Get(url); err == nil {
		t.Error("still serving after shutdown")
	}
	if _, err := agents.New("pricing", agents.Options{}); err == nil {
		t.Error("New accepted an unknown role")
	}
}

// The demo: billing proposes 500, escalation counters 350, billing accepts.
func TestDemoNegotiation(t *testing.T) {
	peers := map[string]*peer{"billing": startPeer(t, agents.RoleBilling, agents.Options{}), "escalation": startPeer(t, agents.RoleEscalation, agents.Options{})}
	steps, status := negotiate(t, "neg-demo", demoTicket(), 6, peers, "billing", "escalation")
	want := []step{{"billing", "propose", 500}, {"escalation", "counter", 350}, {"billing", "accept", 350}}
	if status != "agreed" || fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("%s after %v, want agreed after %v", status, steps, want)
	}
	for name, p := range peers {
		for _, e := range p.journal.entries(t) {
			if e.Agent != name || e.NegotiationID != "neg-demo" || e.MessageID != fmt.Sprintf("neg-demo/r%d/%s", e.Round, name) {
				t.Errorf("journal entry %+v", e)
			}
		}
	}
	if n := len(peers["billing"].journal.entries(t)) + len(peers["escalation"].journal.entries(t)); n != 3 {
		t.Errorf("%d journal lines, want 3", n)
	}
}

// SixMoveOptions give exactly 6 moves, the default max_rounds, ending in
// agreement.
func TestSixMoveNegotiation(t *testing.T) {
	bo, eo := agents.SixMoveOptions()
	peers := map[string]*peer{"billing": startPeer(t, agents.RoleBilling, bo), "escalation": startPeer(t, agents.RoleEscalation, eo)}
	steps, status := negotiate(t, "neg-six", demoTicket(), 6, peers, "billing", "escalation")
	want := []step{{"billing", "propose", 500}, {"escalation", "counter", 120}, {"billing", "counter", 310},
		{"escalation", "counter", 240}, {"billing", "counter", 275}, {"escalation", "accept", 275}}
	if status != "agreed" || fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("%s after %v, want agreed after %v", status, steps, want)
	}
}

func TestNegotiationOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		ticket    map[string]any
		order     []string
		maxRounds int
		bo, eo    agents.Options
		status    string
		moves     int
	}{
		{"escalation opens, billing accepts", demoTicket(), []string{"escalation", "billing"}, 6, agents.Options{}, agents.Options{}, "agreed", 2},
		{"over the hard cap", map[string]any{"id": "T-9", "customer": "acme", "refund_amount": 2500.0}, []string{"billing", "escalation"}, 6, agents.Options{}, agents.Options{}, "rejected", 2},
		{"small refund approved at once", map[string]any{"id": "T-8", "customer": "globex", "refund_amount": 120.0}, []string{"billing", "escalation"}, 6, agents.Options{}, agents.Options{}, "agreed", 2},
		{"rounds run out", demoTicket(), []string{"billing", "escalation"}, 4, agents.Options{AcceptRatio: 0.9}, agents.Options{ConcessionStep: 120}, "no_agreement", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peers := map[string]*peer{"billing": startPeer(t, agents.RoleBilling, tc.bo), "escalation": startPeer(t, agents.RoleEscalation, tc.eo)}
			steps, status := negotiate(t, "neg-"+strings.ReplaceAll(tc.name, " ", "-"), tc.ticket, tc.maxRounds, peers, tc.order...)
			if status != tc.status || len(steps) != tc.moves {
				t.Errorf("%s after %v, want %s after %d moves", status, steps, tc.status, tc.moves)
			}
		})
	}
}

func demoTurn(round int, you string, standing map[string]any, history ...agents.HistoryEntry) agents.Turn {
	t := policyTurn(you, "acme", 500, standing, history...)
	t.NegotiationID, t.Round, t.Subject.Snapshot = "neg-r", round, demoTicket()
	t.Deadline = "2026-11-21T20:00:00Z"
	if history == nil {
		t.History = []agents.HistoryEntry{}
	}
	return t
}

// A resend of a turn (same messageId) gets the same move without the
// agent acting again, even while the first copy is still being decided.
func TestResendIsIdempotent(t *testing.T) {
	p := startPeer(t, agents.RoleEscalation, agents.Options{Delay: 150 * time.Millisecond})
	turn := demoTurn(2, "escalation", amount(500), agents.HistoryEntry{Round: 1, By: "billing", Move: "propose", Terms: amount(500)})
	id := "neg-r/r2/escalation"

	first := p.send(t, turnMessage(id, turn, ""))
	// Resends, some of them concurrent, and one with different content:
	// the messageId decides.
	var wg sync.WaitGroup
	replies := make([]*a2a.Message, 4)
	errs := make([]error, 8)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tt := turn
			if i == 3 {
				tt.Standing = &agents.Standing{By: "billing", Terms: amount(100)}
			}
			replies[i], errs[i] = p.trySend(turnMessage(id, tt, ""))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := moveData(t, first)
	if want["move"] != "counter" || !jsonEqual(want["terms"], amount(350)) {
		t.Fatalf("first reply %v", want)
	}
	for i, r := range replies {
		if got := moveData(t, r); !jsonEqual(got, want) || r.ID != first.ID {
			t.Errorf("resend %d: %s %v, want %s %v", i, r.ID, got, first.ID, want)
		}
	}
	// Concurrent first copies of a new turn: decided once.
	id2 := "neg-r/r4/escalation"
	turn2 := turn
	turn2.Round = 4
	replies2 := make([]*a2a.Message, 5)
	for i := range replies2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies2[i], errs[i] = p.trySend(turnMessage(id2, turn2, ""))
		}()
	}
	wg.Wait()
	for i, err := range errs[:len(replies2)] {
		if err != nil {
			t.Fatal(err)
		}
		if got := moveData(t, replies2[i]); !jsonEqual(got, moveData(t, replies2[0])) {
			t.Errorf("copy %d of %s: %v, copy 0: %v", i, id2, got, moveData(t, replies2[0]))
		}
	}
	count := map[string]int{}
	for _, e := range p.journal.entries(t) {
		count[e.MessageID]++
	}
	if count[id] != 1 || count[id2] != 1 || len(count) != 2 {
		t.Errorf("journal: %v; want each messageId acted on once", count)
	}
}

func TestCorrectiveTurn(t *testing.T) {
	p := startPeer(t, agents.RoleBilling, agents.Options{})
	turn := demoTurn(1, "billing", nil)
	id := "neg-c/r1/billing"
	turn.NegotiationID = "neg-c"
	// Parley found the first reply invalid (say it never arrived whole) and
	// sends the corrective turn: same state, messageId with /c1.
	p.send(t, turnMessage(id, turn, ""))
	corr := p.send(t, turnMessage(id+agents.CorrectiveSuffix, turn,
		"Your reply had no valid move: no parley.negotiation.move data part. Answer with one of: propose, reject."))
	m := moveData(t, corr)
	validate(t, "move", m)
	if m["move"] != "propose" || !jsonEqual(m["terms"], amount(500)) {
		t.Errorf("corrective reply %v", m)
	}
	// A corrective turn carrying only text is decided on the turn it
	// corrects.
	turn3 := demoTurn(3, "billing", amount(350), agents.HistoryEntry{Round: 1, By: "billing", Move: "propose", Terms: amount(500)},
		agents.HistoryEntry{Round: 2, By: "escalation", Move: "counter", Terms: amount(350)})
	turn3.NegotiationID = "neg-c"
	p.send(t, turnMessage("neg-c/r3/billing", turn3, ""))
	textOnly := a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "Your reply had no valid move. Answer with one of: counter, accept, reject."})
	textOnly.ID, textOnly.ContextID = "neg-c/r3/billing"+agents.CorrectiveSuffix, "neg-c"
	m = moveData(t, p.send(t, textOnly))
	if m["move"] != "accept" || !jsonEqual(m["terms"], amount(350)) {
		t.Errorf("text-only corrective reply %v", m)
	}
	var ids []string
	for _, e := range p.journal.entries(t) {
		ids = append(ids, e.MessageID)
	}
	if got := strings.Join(ids, " "); got != "neg-c/r1/billing neg-c/r1/billing/c1 neg-c/r3/billing neg-c/r3/billing/c1" {
		t.Errorf("journal %s", got)
	}
}

func TestNotANegotiationTurn(t *testing.T) {
	for _, role := range []agents.Role{agents.RoleBilling, agents.RoleEscalation} {
		t.Run(string(role), func(t *testing.T) {
			p := startPeer(t, role, agents.Options{})
			msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "hello, what do you do?"})
			reply := p.send(t, msg)
			var text string
			for _, part := range reply.Parts {
				switch v := part.(type) {
				case a2a.TextPart:
					text += v.Text
				default:
					t.Errorf("non-text part %T", part)
				}
			}
			if !strings.Contains(text, agents.ExtensionURI) {
				t.Errorf("reply %q", text)
			}
			// A data part of another kind is not a turn either.
			msg = a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "fyi"}, a2a.DataPart{Data: map[string]any{"type": "something.else", "round": 1}})
			if r := p.send(t, msg); len(r.Parts) != 1 {
				t.Errorf("reply parts %+v", r.Parts)
			}
			if n := len(p.journal.entries(t)); n != 0 {
				t.Errorf("%d journal lines for plain messages", n)
			}
		})
	}
}

// Triage answers the way mcpbridge reads agents: a completed task whose
// artifact holds the assessment as a data part and as text, streamed or
// not.
func TestTriageOverA2A(t *testing.T) {
	p := startPeer(t, agents.RoleTriage, agents.Options{})
	ticket := map[string]any{"ticket": map[string]any{"id": "T-42", "customer": "acme",
		"summary": "I was charged twice for the annual plan. This is unacceptable, I want my 500 back", "refund_amount": 500.0}}
	tests := []struct {
		name string
		msg  *a2a.Message
		want map[string]any
	}{
		{"text", a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "URGENT: the API returns error 502 since this morning, production down"}),
			map[string]any{"category": "technical", "priority": "urgent", "sentiment": "neutral"}},
		{"ticket data part", a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "triage this ticket"}, a2a.DataPart{Data: ticket}),
			map[string]any{"category": "billing", "priority": "high", "sentiment": "negative", "ticket_id": "T-42", "refund_amount": 500.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := p.client.SendMessage(ctx, &a2a.MessageSendParams{Message: tc.msg})
			if err != nil {
				t.Fatal(err)
			}
			task, ok := res.(*a2a.Task)
			if !ok || task.Status.State != a2a.TaskStateCompleted || len(task.Artifacts) != 1 {
				t.Fatalf("result %T %+v", res, res)
			}
			checkTriage(t, task.Artifacts[0].Parts, tc.want)

			// Streamed, as mcpbridge's agent tools call agents.
			msg := *tc.msg
			msg.ID = a2a.NewMessageID()
			var parts []a2a.Part
			var final a2a.TaskState
			for ev, err := range p.client.SendStreamingMessage(ctx, &a2a.MessageSendParams{Message: &msg}) {
				if err != nil {
					t.Fatal(err)
				}
				switch e := ev.(type) {
				case *a2a.TaskArtifactUpdateEvent:
					parts = append(parts, e.Artifact.Parts...)
				case *a2a.TaskStatusUpdateEvent:
					final = e.Status.State
				case *a2a.Task:
					for _, a := range e.Artifacts {
						parts = append(parts, a.Parts...)
					}
					final = e.Status.State
				}
			}
			if final != a2a.TaskStateCompleted {
				t.Errorf("stream ended %q", final)
			}
			checkTriage(t, parts, tc.want)
		})
	}
	// Nothing to triage: the task is rejected with a reason.
	ctx := context.Background()
	res, err := p.client.SendMessage(ctx, &a2a.MessageSendParams{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: "  "})})
	if err != nil {
		t.Fatal(err)
	}
	if task, ok := res.(*a2a.Task); !ok || task.Status.State != a2a.TaskStateRejected {
		t.Errorf("empty ticket: %+v", res)
	}
}

func checkTriage(t *testing.T, parts []a2a.Part, want map[string]any) {
	t.Helper()
	var data map[string]any
	var text string
	for _, part := range parts {
		switch v := part.(type) {
		case a2a.DataPart:
			data = v.Data
		case a2a.TextPart:
			text += v.Text
		}
	}
	if data == nil || data["type"] != agents.TriageType || data["rationale"] == "" {
		t.Fatalf("triage data %v", data)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("%s = %v, want %v (%v)", k, data[k], v, data)
		}
	}
	if !strings.Contains(text, fmt.Sprint(want["category"])) || !strings.Contains(text, fmt.Sprint(want["priority"])) {
		t.Errorf("text %q", text)
	}
}
