package agents

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// Role is which example agent to run.
type Role string

// Roles.
const (
	RoleTriage     Role = "triage"
	RoleBilling    Role = "billing"
	RoleEscalation Role = "escalation"
)

// Roles lists every role.
var Roles = []Role{RoleTriage, RoleBilling, RoleEscalation}

// Policy defaults.
const (
	DefaultAcceptRatio       = 0.6
	DefaultBaseLimit         = 200.0
	DefaultHighValueFactor   = 1.75
	DefaultNewCustomerFactor = 0.5
	DefaultHardCap           = 2000.0
	DefaultCacheSize         = 4096
)

// Options configure an agent. The policy fields apply to the role named
// beside them; zero means the default.
type Options struct {
	// Name is the agent's name in its card. Default: the role.
	Name string
	// URL is the URL the card advertises. Default: the URL it is served at
	// (Serve and Start fill it in from the listener).
	URL string
	// Delay is think time spent on every message the agent acts on (not on
	// a resend answered from the cache).
	Delay time.Duration
	// Journal receives one JSON line per negotiation turn the agent
	// decides (see the package documentation). Writes are serialized.
	Journal io.Writer
	// Logger logs what the agent does. Default: slog.Default().
	Logger *slog.Logger
	// CacheSize bounds how many answered turns are remembered by
	// messageId for resends. Default 4096.
	CacheSize int
	// Customers add to or override the built-in table [Customers], keyed
	// by name (case-insensitive).
	Customers map[string]Customer

	// AcceptRatio (billing): accept standing terms at least this fraction
	// of its own last ask. Default 0.6.
	AcceptRatio float64

	// BaseLimit (escalation): the approval limit for a standard customer.
	// Default 200.
	BaseLimit float64
	// HighValueFactor (escalation) scales the limit for a high-value
	// customer. Default 1.75.
	HighValueFactor float64
	// NewCustomerFactor (escalation) scales the limit for a new customer.
	// Default 0.5.
	NewCustomerFactor float64
	// HardCap (escalation): reject standing amounts above it. Default 2000.
	HardCap float64
	// ConcessionStep (escalation), when positive, makes it concede
	// gradually: on its k-th move it goes up to min(limit, k×step).
	ConcessionStep float64
}

func (o Options) withDefaults() Options {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.AcceptRatio, DefaultAcceptRatio)
	def(&o.BaseLimit, DefaultBaseLimit)
	def(&o.HighValueFactor, DefaultHighValueFactor)
	def(&o.NewCustomerFactor, DefaultNewCustomerFactor)
	def(&o.HardCap, DefaultHardCap)
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// SixMoveOptions are the options for billing and escalation under which
// the demo ticket (customer "acme", refund 500, billing opening) takes
// exactly 6 moves and ends agreed on 275.00: billing accepts from 90% of
// its last ask, escalation concedes in steps of 120.
func SixMoveOptions() (billing, escalation Options) {
	return Options{AcceptRatio: 0.9}, Options{ConcessionStep: 120}
}

// Agent is one example agent: an a2asrv.AgentExecutor with its card.
type Agent struct {
	role      Role
	opts      Options
	customers map[string]Customer
	log       *slog.Logger

	journalMu sync.Mutex

	mu      sync.Mutex
	replies map[string]*reply // by messageId
	order   []string          // messageIds, oldest first, for eviction
	turns   map[string]Turn   // decided turns by messageId, for corrective turns without data
}

// reply is a turn being decided (done open) or decided.
type reply struct {
	done chan struct{}
	move Move
	ok   bool // false: deciding failed, decide again
}

var _ a2asrv.AgentExecutor = (*Agent)(nil)

// New makes an agent of the given role.
func New(role Role, opts Options) (*Agent, error) {
	switch role {
	case RoleTriage, RoleBilling, RoleEscalation:
	default:
		return nil, fmt.Errorf("unknown agent role %q (want triage, billing or escalation)", role)
	}
	opts = opts.withDefaults()
	if opts.Name == "" {
		opts.Name = string(role)
	}
	customers := map[string]Customer{}
	for k, c := range opts.Customers {
		customers[strings.ToLower(strings.TrimSpace(k))] = c
	}
	return &Agent{
		role: role, opts: opts, customers: customers,
		log:     opts.Logger.With("agent", opts.Name, "role", string(role)),
		replies: map[string]*reply{}, turns: map[string]Turn{},
	}, nil
}

// Name is the agent's name.
func (a *Agent) Name() string { return a.opts.Name }

// Role is the agent's role.
func (a *Agent) Role() Role { return a.role }

// Options are the agent's options, defaults filled in.
func (a *Agent) Options() Options { return a.opts }

// Negotiates reports whether the agent takes part in negotiations.
func (a *Agent) Negotiates() bool { return a.role != RoleTriage }

// Decide is the agent's policy: the move it makes on a turn. It has no
// side effects (no journal, no cache, no delay).
func (a *Agent) Decide(t Turn) Move {
	if t.You == "" {
		t.You = a.opts.Name
	}
	var m Move
	switch a.role {
	case RoleBilling:
		m = decideBilling(a.opts, a.customers, t)
	case RoleEscalation:
		m = decideEscalation(a.opts, a.customers, t)
	default:
		m = Move{Move: MoveReject, Rationale: a.opts.Name + " does not negotiate"}
	}
	return legal(t, m)
}

// Paths of the agent's interfaces, under the URL it is served at.
const (
	// RESTPath is where A2A 1.0's HTTP+JSON binding is served.
	RESTPath = "rest"
	// JSONRPC03Path is where A2A 0.3's JSON-RPC is served. The root serves
	// JSON-RPC too, in the version the request's A2A-Version header names
	// (none: 0.3, as A2A 1.0 says), but the card lists 0.3 under a URL of
	// its own so that a card reader that keys interfaces by URL and
	// binding sees both versions.
	JSONRPC03Path = "v0.3"
)

// Card is the agent's card for an agent served at url (a base URL): A2A
// 1.0 JSON-RPC at url (preferred), HTTP+JSON at url/rest, and A2A 0.3
// JSON-RPC at url/v0.3. Served by Handler, it carries the 0.3 fields too
// (url, preferredTransport, protocolVersion 0.3, additionalInterfaces),
// naming the 0.3 interface, for 0.3 clients.
func (a *Agent) Card(url string) *a2a.AgentCard {
	base := strings.TrimSuffix(url, "/") + "/"
	c := &a2a.AgentCard{
		Name:    a.opts.Name,
		Version: "1.0.0",
		SupportedInterfaces: []*a2a.AgentInterface{
			a2a.NewAgentInterface(url, a2a.TransportProtocolJSONRPC),
			a2a.NewAgentInterface(base+RESTPath, a2a.TransportProtocolHTTPJSON),
			{URL: base + JSONRPC03Path, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: a2av0.Version},
		},
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain", "application/json"},
		DefaultOutputModes: []string{"text/plain", "application/json"},
	}
	switch a.role {
	case RoleTriage:
		c.Description = "Triages support tickets: category, priority, sentiment and a short rationale (deterministic keyword rules)"
		c.Skills = []a2a.AgentSkill{{ID: "triage-ticket", Name: "Triage a ticket",
			Description: "Classify a ticket (text, or a data part holding the ticket) by category, priority and sentiment",
			Tags:        []string{"support", "triage", "tickets"}, Examples: []string{"I was charged twice for my subscription, please refund $500"}}}
	case RoleBilling:
		c.Description = "Billing agent: proposes and negotiates refunds for customers from their tenure and lifetime value"
		c.Skills = []a2a.AgentSkill{{ID: "negotiate-refund", Name: "Negotiate a refund",
			Description: "Propose the refund a ticket asks for and negotiate it through Parley's negotiation extension",
			Tags:        []string{"billing", "refunds", "negotiation"}}}
	case RoleEscalation:
		c.Description = "Escalation agent: approves exception refunds up to a limit scaled by customer value"
		c.Skills = []a2a.AgentSkill{{ID: "approve-refund", Name: "Approve an exception refund",
			Description: "Approve, counter or reject refunds above the standard limit through Parley's negotiation extension",
			Tags:        []string{"escalation", "approvals", "negotiation"}}}
	}
	if a.Negotiates() {
		c.Capabilities.Extensions = []a2a.AgentExtension{{URI: ExtensionURI,
			Description: "Parley negotiation extension v1: answers parley.negotiation.turn data parts with parley.negotiation.move"}}
	}
	return c
}

// Handler serves the agent with a2a-go v2 at url (Options.URL if set):
// its card at a2asrv.WellKnownAgentCardPath (both versions' fields),
// JSON-RPC at the root (A2A 1.0 when the request's A2A-Version header
// says 1.x, else 0.3), HTTP+JSON under /rest and 0.3 JSON-RPC at /v0.3.
func (a *Agent) Handler(url string) http.Handler {
	if a.opts.URL != "" {
		url = a.opts.URL
	}
	h := a2asrv.NewHandler(a, a2asrv.WithLogger(a.log))
	jsonrpc10, jsonrpc03 := a2asrv.NewJSONRPCHandler(h), a2av0.NewJSONRPCHandler(h)
	mux := http.NewServeMux()
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewAgentCardHandler(a2av0.NewStaticAgentCardProducer(a.Card(url))))
	mux.Handle("/"+RESTPath+"/", http.StripPrefix("/"+RESTPath, a2asrv.NewRESTHandler(h)))
	mux.Handle("/"+JSONRPC03Path, jsonrpc03)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get(a2a.SvcParamVersion), "1") {
			jsonrpc10.ServeHTTP(w, r)
			return
		}
		jsonrpc03.ServeHTTP(w, r)
	}))
	return mux
}

// Execute implements a2asrv.AgentExecutor.
func (a *Agent) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		events, err := a.execute(ctx, ec)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func (a *Agent) execute(ctx context.Context, ec *a2asrv.ExecutorContext) ([]a2a.Event, error) {
	msg := ec.Message
	if msg == nil {
		return nil, fmt.Errorf("%s: no message to answer", a.opts.Name)
	}
	if a.role == RoleTriage {
		return a.triage(ctx, ec)
	}
	turn, isTurn, err := TurnFrom(msg)
	if err != nil {
		a.log.Warn("malformed negotiation turn", "message_id", msg.ID, "error", err)
		return []a2a.Event{a.textReply(ec, fmt.Sprintf("%s could not read the negotiation turn: %v", a.opts.Name, err))}, nil
	}
	if !isTurn && strings.HasSuffix(msg.ID, CorrectiveSuffix) {
		a.mu.Lock()
		turn, isTurn = a.turns[strings.TrimSuffix(msg.ID, CorrectiveSuffix)]
		a.mu.Unlock()
	}
	if !isTurn {
		if err := a.think(ctx); err != nil {
			return nil, err
		}
		return []a2a.Event{a.textReply(ec, a.about())}, nil
	}
	if strings.HasSuffix(msg.ID, CorrectiveSuffix) {
		a.log.Info("corrective turn", "message_id", msg.ID, "text", messageText(msg))
	}
	move, cached, err := a.answer(ctx, msg.ID, turn)
	if err != nil {
		return nil, err
	}
	a.log.Info("negotiation move", "message_id", msg.ID, "negotiation_id", turn.NegotiationID, "round", turn.Round,
		"move", move.Move, "terms", move.Terms, "resend", cached)
	reply := a2a.NewMessage(a2a.MessageRoleAgent, move.DataPart(), a2a.NewTextPart(a.opts.Name+" "+move.String()))
	reply.ID = msg.ID + "/reply"
	reply.ContextID = ec.ContextID
	reply.Extensions = []string{ExtensionURI}
	return []a2a.Event{reply}, nil
}

// answer decides a turn once per messageId: a resend gets the remembered
// move, waiting for it if the first copy is still being decided.
func (a *Agent) answer(ctx context.Context, id string, turn Turn) (Move, bool, error) {
	var r *reply
	for r == nil {
		a.mu.Lock()
		prev, seen := a.replies[id]
		if !seen {
			r = &reply{done: make(chan struct{})}
			a.replies[id] = r
			a.mu.Unlock()
			break
		}
		a.mu.Unlock()
		select {
		case <-prev.done:
		case <-ctx.Done():
			return Move{}, false, ctx.Err()
		}
		if prev.ok {
			return prev.move, true, nil
		}
		// The first copy gave up before deciding: decide it now.
	}
	if err := a.think(ctx); err != nil {
		a.mu.Lock()
		delete(a.replies, id)
		a.mu.Unlock()
		close(r.done)
		return Move{}, false, err
	}
	r.move, r.ok = a.Decide(turn), true
	a.journal(id, turn, r.move)
	a.mu.Lock()
	a.turns[id] = turn
	a.order = append(a.order, id)
	for len(a.order) > a.opts.CacheSize {
		delete(a.replies, a.order[0])
		delete(a.turns, a.order[0])
		a.order = a.order[1:]
	}
	a.mu.Unlock()
	close(r.done)
	return r.move, false, nil
}

// JournalEntry is one line of the journal.
type JournalEntry struct {
	Agent         string         `json:"agent"`
	MessageID     string         `json:"message_id"`
	NegotiationID string         `json:"negotiation_id"`
	Round         int            `json:"round"`
	Move          string         `json:"move"`
	Terms         map[string]any `json:"terms,omitempty"`
}

func (a *Agent) journal(id string, t Turn, m Move) {
	if a.opts.Journal == nil {
		return
	}
	line, err := json.Marshal(JournalEntry{Agent: a.opts.Name, MessageID: id, NegotiationID: t.NegotiationID, Round: t.Round, Move: m.Move, Terms: m.Terms})
	if err != nil {
		a.log.Error("journal", "error", err)
		return
	}
	a.journalMu.Lock()
	defer a.journalMu.Unlock()
	if _, err := a.opts.Journal.Write(append(line, '\n')); err != nil {
		a.log.Error("journal", "error", err)
	}
}

func (a *Agent) think(ctx context.Context) error {
	if a.opts.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(a.opts.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Agent) about() string {
	switch a.role {
	case RoleBilling:
		return fmt.Sprintf("%s negotiates refunds through Parley's negotiation extension (%s): send a %s data part. "+
			"It proposes the refund a ticket asks for and accepts counters of at least %s of its last ask.",
			a.opts.Name, ExtensionURI, TurnType, percent(a.opts.AcceptRatio))
	default:
		return fmt.Sprintf("%s approves exception refunds through Parley's negotiation extension (%s): send a %s data part. "+
			"Its limit is %s (×%s for high-value customers, ×%s for new ones); it rejects anything over %s.",
			a.opts.Name, ExtensionURI, TurnType, money(a.opts.BaseLimit),
			factor(a.opts.HighValueFactor), factor(a.opts.NewCustomerFactor), money(a.opts.HardCap))
	}
}

func factor(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func (a *Agent) textReply(ec *a2asrv.ExecutorContext, text string) *a2a.Message {
	m := a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart(text))
	m.ContextID = ec.ContextID
	return m
}

// triage answers with a completed task whose artifact holds the
// assessment as a data part and as text.
func (a *Agent) triage(ctx context.Context, ec *a2asrv.ExecutorContext) ([]a2a.Event, error) {
	id, text, refund := triageInput(ec.Message)
	if err := a.think(ctx); err != nil {
		return nil, err
	}
	var events []a2a.Event
	if ec.StoredTask == nil {
		events = append(events, a2a.NewSubmittedTask(ec, ec.Message))
	}
	if strings.TrimSpace(text) == "" {
		return append(events, a2a.NewStatusUpdateEvent(ec, a2a.TaskStateRejected,
			a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart("send the ticket's text, or a data part holding the ticket or its summary")))), nil
	}
	r := Assess(id, text, refund)
	a.log.Info("triaged", "ticket", id, "category", r.Category, "priority", r.Priority, "sentiment", r.Sentiment)
	art := a2a.NewArtifactEvent(ec, a2a.NewDataPart(r.Data()), a2a.NewTextPart(r.Text()))
	art.Artifact.Name = "triage"
	art.Artifact.Description = "category, priority, sentiment and rationale"
	art.LastChunk = true
	return append(events, art, a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCompleted,
		a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(r.Text())))), nil
}

// Cancel implements a2asrv.AgentExecutor: answers are immediate, there is
// nothing to stop.
func (a *Agent) Cancel(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

func messageText(m *a2a.Message) string {
	var texts []string
	for _, p := range m.Parts {
		if p != nil {
			if t, ok := p.Content.(a2a.Text); ok {
				texts = append(texts, string(t))
			}
		}
	}
	return strings.Join(texts, " ")
}
