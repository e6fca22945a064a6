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

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
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

// How a test's client reaches the agent.
type protocol string

const (
	jsonrpc10 protocol = "A2A 1.0 JSON-RPC"
	rest10    protocol = "A2A 1.0 REST"
	jsonrpc03 protocol = "A2A 0.3 JSON-RPC"
)

// protocols are every interface the agents serve.
var protocols = []protocol{jsonrpc10, rest10, jsonrpc03}

// clientOptions make a2a-go v2 clients that can use only proto.
func clientOptions(proto protocol) []a2aclient.FactoryOption {
	switch proto {
	case rest10:
		return []a2aclient.FactoryOption{a2aclient.WithDefaultsDisabled(), a2aclient.WithRESTTransport(nil)}
	case jsonrpc03:
		return []a2aclient.FactoryOption{a2aclient.WithDefaultsDisabled(), a2av0.WithJSONRPCTransport(a2av0.JSONRPCTransportConfig{})}
	default:
		return []a2aclient.FactoryOption{a2aclient.WithDefaultsDisabled(), a2aclient.WithJSONRPCTransport(nil)}
	}
}

// startPeer serves an agent and gives it a client over A2A 1.0 JSON-RPC.
func startPeer(t *testing.T, role agents.Role, opts agents.Options) *peer {
	t.Helper()
	return startPeerOver(t, role, opts, jsonrpc10)
}

// startPeerOver serves an agent and gives it a client over proto, found
// from the agent's card as any client would.
func startPeerOver(t *testing.T, role agents.Role, opts agents.Options, proto protocol) *peer {
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
	client, err := a2aclient.NewFromCard(ctx, card, clientOptions(proto)...)
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
	msg := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(text), a2a.NewDataPart(data))
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
	// The extension is asked for as Parley does: a2a-go sends it in
	// A2A-Extensions, and its 0.3 transport in X-A2A-Extensions.
	ctx = a2aclient.AttachServiceParams(ctx, a2aclient.ServiceParams{a2a.SvcParamExtensions: {agents.ExtensionURI}})
	res, err := p.client.SendMessage(ctx, &a2a.SendMessageRequest{Message: msg})
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
		if data, ok := part.Data().(map[string]any); ok && data["type"] == agents.MoveType {
			if found != nil {
				t.Fatalf("reply %s has two move data parts", reply.ID)
			}
			found = data
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
