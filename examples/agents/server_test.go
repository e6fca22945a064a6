package agents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

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
			wantIfaces := []a2a.AgentInterface{
				{URL: p.url, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: a2a.Version},
				{URL: p.url + agents.RESTPath, ProtocolBinding: a2a.TransportProtocolHTTPJSON, ProtocolVersion: a2a.Version},
				{URL: p.url + agents.JSONRPC03Path, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: a2av0.Version},
			}
			var gotIfaces []a2a.AgentInterface
			for _, i := range c.SupportedInterfaces {
				gotIfaces = append(gotIfaces, *i)
			}
			if diff := cmp.Diff(wantIfaces, gotIfaces); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
			if c.Name != string(role) || len(c.Skills) == 0 {
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
			parsed, err := agentcards.ParseCard(doc)
			if err != nil {
				t.Fatalf("card refused by agentcards.ParseCard: %v\n%s", err, doc)
			}
			// 0.3 clients read url, preferredTransport and protocolVersion:
			// they name the 0.3 interface.
			var v03 struct {
				URL                string `json:"url"`
				PreferredTransport string `json:"preferredTransport"`
				ProtocolVersion    string `json:"protocolVersion"`
			}
			if err := json.Unmarshal(doc, &v03); err != nil {
				t.Fatal(err)
			}
			if v03.URL != p.url+agents.JSONRPC03Path || v03.PreferredTransport != "JSONRPC" || v03.ProtocolVersion != "0.3" {
				t.Errorf("0.3 fields %+v, want the 0.3 interface %s", v03, p.url+agents.JSONRPC03Path)
			}
			if !parsed.A2A03 || !parsed.A2A10 || len(parsed.Interfaces) != 3 {
				t.Errorf("as Parley registers it: 0.3 fields %v, 1.0 fields %v, interfaces %+v", parsed.A2A03, parsed.A2A10, parsed.Interfaces)
			}
			if !strings.Contains(string(doc), `"capabilities"`) || slices.Contains(parsed.Capabilities.Extensions, agents.ExtensionURI) != (role != agents.RoleTriage) {
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
	if card.Name != "approver" || len(card.SupportedInterfaces) == 0 || card.SupportedInterfaces[0].URL != url {
		t.Errorf("card name %q interfaces %+v, want approver at %s", card.Name, card.SupportedInterfaces, url)
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

// The demo: billing proposes 500, escalation counters 350, billing
// accepts; the same over every interface the agents serve.
func TestDemoNegotiation(t *testing.T) {
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testDemoNegotiation(t, proto) })
	}
}

func testDemoNegotiation(t *testing.T, proto protocol) {
	peers := map[string]*peer{"billing": startPeerOver(t, agents.RoleBilling, agents.Options{}, proto), "escalation": startPeerOver(t, agents.RoleEscalation, agents.Options{}, proto)}
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
	textOnly := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("Your reply had no valid move. Answer with one of: counter, accept, reject."))
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
			msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hello, what do you do?"))
			reply := p.send(t, msg)
			var text string
			for _, part := range reply.Parts {
				switch v := part.Content.(type) {
				case a2a.Text:
					text += string(v)
				default:
					t.Errorf("non-text part %T", v)
				}
			}
			if !strings.Contains(text, agents.ExtensionURI) {
				t.Errorf("reply %q", text)
			}
			// A data part of another kind is not a turn either.
			msg = a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("fyi"), a2a.NewDataPart(map[string]any{"type": "something.else", "round": 1}))
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
	for _, proto := range protocols {
		t.Run(string(proto), func(t *testing.T) { testTriageOverA2A(t, proto) })
	}
}

func testTriageOverA2A(t *testing.T, proto protocol) {
	p := startPeerOver(t, agents.RoleTriage, agents.Options{}, proto)
	ticket := map[string]any{"ticket": map[string]any{"id": "T-42", "customer": "acme",
		"summary": "I was charged twice for the annual plan. This is unacceptable, I want my 500 back", "refund_amount": 500.0}}
	tests := []struct {
		name string
		msg  *a2a.Message
		want map[string]any
	}{
		{"text", a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("URGENT: the API returns error 502 since this morning, production down")),
			map[string]any{"category": "technical", "priority": "urgent", "sentiment": "neutral"}},
		{"ticket data part", a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("triage this ticket"), a2a.NewDataPart(ticket)),
			map[string]any{"category": "billing", "priority": "high", "sentiment": "negative", "ticket_id": "T-42", "refund_amount": 500.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := p.client.SendMessage(ctx, &a2a.SendMessageRequest{Message: tc.msg})
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
			var parts []*a2a.Part
			var final a2a.TaskState
			for ev, err := range p.client.SendStreamingMessage(ctx, &a2a.SendMessageRequest{Message: &msg}) {
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
	res, err := p.client.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("  "))})
	if err != nil {
		t.Fatal(err)
	}
	if task, ok := res.(*a2a.Task); !ok || task.Status.State != a2a.TaskStateRejected {
		t.Errorf("empty ticket: %+v", res)
	}
}

func checkTriage(t *testing.T, parts []*a2a.Part, want map[string]any) {
	t.Helper()
	var data map[string]any
	var text string
	for _, part := range parts {
		switch v := part.Content.(type) {
		case a2a.Data:
			data, _ = v.Value.(map[string]any)
		case a2a.Text:
			text += string(v)
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

// The root serves JSON-RPC in the version the request names: A2A 1.0
// with A2A-Version 1.0, else 0.3 (clients that predate the header).
func TestRootServesBothVersions(t *testing.T) {
	p := startPeer(t, agents.RoleBilling, agents.Options{})
	tests := []struct {
		name    string
		version string // A2A-Version header, "" for none
		body    string
		want    string // in the result
	}{
		{"0.3 without a version", "", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m1","role":"user","parts":[{"kind":"text","text":"hi"}]}}}`, `"kind":"message"`},
		{"0.3 named", "0.3", `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m2","role":"user","parts":[{"kind":"text","text":"hi"}]}}}`, `"kind":"message"`},
		{"1.0", "1.0", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m3","role":"ROLE_USER","parts":[{"text":"hi"}]}}}`, `"role":"ROLE_AGENT"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.version != "" {
				req.Header.Set("A2A-Version", tc.version)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), tc.want) || strings.Contains(string(body), `"error"`) {
				t.Errorf("answer %s, want it to hold %s", body, tc.want)
			}
		})
	}
}
