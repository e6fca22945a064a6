package agents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/parleyhq/parley/examples/agents"
)

// syncBuffer is a journal tests can read while agents write it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// entries parses the journal.
func (b *syncBuffer) entries(t *testing.T) []agents.JournalEntry {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []agents.JournalEntry
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e agents.JournalEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// peer is an agent served on loopback with an A2A client for it.
type peer struct {
	url     string
	card    *a2a.AgentCard
	client  *a2aclient.Client
	journal *syncBuffer
	stop    func()
}

// extensionHeader sends the extension URI in X-A2A-Extensions, as Parley
// does for A2A 0.3 agents.
type extensionHeader struct {
	a2aclient.PassthroughInterceptor
}

func (extensionHeader) Before(ctx context.Context, req *a2aclient.Request) (context.Context, error) {
	if req.Meta == nil {
		req.Meta = a2aclient.CallMeta{}
	}
	req.Meta["X-A2A-Extensions"] = []string{agents.ExtensionURI}
	return ctx, nil
}

func startPeer(t *testing.T, role agents.Role, opts agents.Options) *peer {
	t.Helper()
	p := &peer{journal: &syncBuffer{}}
	if opts.Journal == nil {
		opts.Journal = p.journal
	}
	if opts.Logger == nil && !testing.Verbose() {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	url, stop, err := agents.Start(ctx, "127.0.0.1:0", role, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.url, p.stop = url, stop
	t.Cleanup(stop)
	card, err := agentcard.DefaultResolver.Resolve(ctx, url)
	if err != nil {
		t.Fatalf("card of %s at %s: %v", role, url, err)
	}
	p.card = card
	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithInterceptors(extensionHeader{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Destroy() })
	p.client = client
	return p
}

// turnMessage is the message Parley sends for a turn.
func turnMessage(id string, turn agents.Turn, text string) *a2a.Message {
	raw, _ := json.Marshal(turn)
	var data map[string]any
	_ = json.Unmarshal(raw, &data)
	if text == "" {
		text = fmt.Sprintf("Negotiation %s, round %d of %d: %s You are %s: %s.", turn.NegotiationID, turn.Round, turn.MaxRounds,
			turn.Question, turn.You, strings.Join(turn.AllowedMoves, ", "))
	}
	msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.TextPart{Text: text}, a2a.DataPart{Data: data})
	msg.ID, msg.ContextID = id, turn.NegotiationID
	msg.Extensions = []string{agents.ExtensionURI}
	return msg
}

// send sends a message with a blocking message/send and returns the reply.
func (p *peer) send(t *testing.T, msg *a2a.Message) *a2a.Message {
	t.Helper()
	reply, err := p.trySend(msg)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// trySend is send for goroutines other than the test's.
func (p *peer) trySend(msg *a2a.Message) (*a2a.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.SendMessage(ctx, &a2a.MessageSendParams{Message: msg})
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", msg.ID, err)
	}
	reply, ok := res.(*a2a.Message)
	if !ok {
		return nil, fmt.Errorf("send %s: got %T, want a message", msg.ID, res)
	}
	return reply, nil
}

// moveData finds the move data part of a reply.
func moveData(t *testing.T, reply *a2a.Message) map[string]any {
	t.Helper()
	var found map[string]any
	for _, part := range reply.Parts {
		if dp, ok := part.(a2a.DataPart); ok && dp.Data["type"] == agents.MoveType {
			if found != nil {
				t.Fatalf("reply %s has two move data parts", reply.ID)
			}
			found = dp.Data
		}
	}
	if found == nil {
		t.Fatalf("reply %s has no move data part: %+v", reply.ID, reply.Parts)
	}
	return found
}

var (
	schemaMu sync.Mutex
	schemas  = map[string]*jsonschema.Resolved{}
)

// schema is $defs/<def> of api/negotiation.schema.json.
func schema(t *testing.T, def string) *jsonschema.Resolved {
	t.Helper()
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if rs := schemas[def]; rs != nil {
		return rs
	}
	doc, err := os.ReadFile("../../api/negotiation.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	s.OneOf, s.Ref = nil, "#/$defs/"+def
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas[def] = rs
	return rs
}

// validate checks v (Go values) against $defs/<def> as JSON.
func validate(t *testing.T, def string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if err := schema(t, def).Validate(doc); err != nil {
		t.Errorf("%s does not validate against $defs/%s: %v", raw, def, err)
	}
}

// demoTicket is ticket T-42 as stored: acme (6 years, 12k) asks 500.
func demoTicket() map[string]any {
	return map[string]any{"id": "T-42", "customer": "acme", "category": "billing", "priority": "high", "status": "negotiating",
		"summary": "Charged twice for the annual plan; the customer asks for a refund of 500.00", "refund_amount": 500.0, "version": 4}
}

// step is one move of a negotiation.
type step struct {
	by     string
	move   string
	amount float64
}

// negotiate runs a negotiation the way NEGOTIATION.md says Parley does,
// over real A2A: one blocking message/send per turn, participants in
// order from the first. It checks every turn and move against the
// schema and returns the moves and the outcome status.
func negotiate(t *testing.T, id string, ticket map[string]any, maxRounds int, peers map[string]*peer, order ...string) ([]step, string) {
	t.Helper()
	turn := agents.Turn{Type: agents.TurnType, NegotiationID: id, MaxRounds: maxRounds,
		Deadline: time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339), Participants: order,
		Question: fmt.Sprintf("Approve an exception refund of %.2f for ticket %s?", ticket["refund_amount"], ticket["id"]),
		Subject:  agents.Subject{Kind: "ticket", ID: fmt.Sprint(ticket["id"]), Snapshot: ticket},
		History:  []agents.HistoryEntry{}}
	var steps []step
	for round := 1; round <= maxRounds; round++ {
		who := order[(round-1)%len(order)]
		turn.Round, turn.You = round, who
		turn.AllowedMoves = []string{agents.MoveCounter, agents.MoveAccept, agents.MoveReject}
		if turn.Standing == nil {
			turn.AllowedMoves = []string{agents.MovePropose, agents.MoveReject}
		}
		validate(t, "turn", turn)
		reply := peers[who].send(t, turnMessage(fmt.Sprintf("%s/r%d/%s", id, round, who), turn, ""))
		data := moveData(t, reply)
		validate(t, "move", data)
		var m agents.Move
		raw, _ := json.Marshal(data)
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(turn.AllowedMoves, m.Move) {
			t.Fatalf("round %d: %s answered %s, not in %v", round, who, m.Move, turn.AllowedMoves)
		}
		amount, _ := agents.Amount(m.Terms)
		steps = append(steps, step{who, m.Move, amount})
		turn.History = append(turn.History, agents.HistoryEntry{Round: round, By: who, Move: m.Move, Terms: m.Terms, Rationale: m.Rationale})
		switch m.Move {
		case agents.MoveAccept:
			if m.Terms != nil && !jsonEqual(m.Terms, turn.Standing.Terms) {
				t.Fatalf("round %d: accept terms %v differ from the standing %v", round, m.Terms, turn.Standing.Terms)
			}
			return steps, "agreed"
		case agents.MoveReject:
			return steps, "rejected"
		default:
			if m.Terms == nil {
				t.Fatalf("round %d: %s without terms", round, m.Move)
			}
			turn.Standing = &agents.Standing{By: who, Terms: m.Terms}
		}
	}
	return steps, "no_agreement"
}

func jsonEqual(a, b any) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ra, &va)
	_ = json.Unmarshal(rb, &vb)
	return reflect.DeepEqual(va, vb)
}
